"""CoAP (RFC 7252) with Observe (RFC 7641) and block-wise transfer (RFC 7959)."""
