"""Services: one per concern, each orchestrating domain rules, repositories and LMS clients."""
