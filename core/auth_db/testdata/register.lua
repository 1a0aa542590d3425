-- A registrar front door for the end-to-end auth tests, run unchanged by
-- kemi and by Kamailio 5.6 (app_lua): authenticate every REGISTER
-- against the subscriber table, answer 200 itself (no registrar), and
-- show the script's return code in every refusal: X-RC on challenges,
-- the reason phrase of 403s.
function ksr_request_route()
	if not KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		return
	end
	-- the realm is the To domain, so a test can ask for another realm
	local realm = KSR.pv.get("$td")
	local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
	if rc == 1 then
		KSR.auth.consume_credentials()
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
	if rc == -5 or rc == -4 or rc == -6 then
		-- no credentials, a stale or a used nonce: ask again
		KSR.auth.auth_challenge(realm, 1)
		return
	end
	KSR.sl.sl_send_reply(403, "Forbidden rc=" .. rc)
end
