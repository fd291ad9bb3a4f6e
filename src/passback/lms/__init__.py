"""LMS clients: LTI 1.3 Assignment and Grade Services and LTI 1.1 Basic Outcomes, behind one gateway.

Nothing here imports pylti1p3 or jwcrypto: the score, release and retry functions use these
clients, and every cold start would pay for those imports.
"""
