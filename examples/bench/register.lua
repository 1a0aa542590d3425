-- register.lua: the registrar of the REGISTER benchmark (register.sh), the
-- same file for kemi and for Kamailio 5.6 (register-kamailio.cfg loads it
-- with app_lua). Every REGISTER is authenticated against the subscriber
-- table (auth_db) and saved to the location table (registrar, usrloc
-- writing through to the database); anything else is refused.

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if not KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	end
	-- the realm is the From domain, as in Kamailio's basic example
	local realm = KSR.kx.gete_fhost()
	if KSR.auth_db.auth_check(realm, "subscriber", 1) < 0 then
		-- flags 1: qop=auth in the challenge
		KSR.auth.auth_challenge(realm, 1)
		KSR.x.exit()
	end
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
