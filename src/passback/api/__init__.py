"""The product API (issue 21): tokens, messages in, message statuses out. Runs in the API function."""
