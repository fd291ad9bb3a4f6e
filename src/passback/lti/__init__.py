"""LTI launch validation: LTI 1.3 around pylti1p3 (launch function only), LTI 1.1 with oauthlib."""
