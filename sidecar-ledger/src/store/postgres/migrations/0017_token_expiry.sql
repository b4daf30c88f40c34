-- Schema version 17: an access token may carry an expiry (Unix ms; NULL: valid until
-- revoked). An expired token is refused like a revoked one, with its own error.
ALTER TABLE api_tokens ADD COLUMN expires_ms BIGINT;
