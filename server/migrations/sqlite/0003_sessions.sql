-- Version 3: a sign-in with an e-mail code lasts `limits.session_days` on
-- its device (issue 10). Tokens made by the operator keep only the idle
-- expiry (`limits.token_expiry_days`): NULL here.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
