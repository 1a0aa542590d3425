-- Answers every request with the result of nat_uac_test for each test
-- bit in an X-NAT header, on kemi and on Kamailio 5.6 alike; a REGISTER
-- is saved first, with the NAT handling of Kamailio's basic example
-- (route NATDETECT, and the branch flags of route REGISTRAR).
function ksr_request_route()
	if KSR.is_REGISTER() then
		KSR.force_rport()
		if KSR.nathelper.nat_uac_test(19) > 0 then
			KSR.nathelper.fix_nated_register()
			KSR.setflag(5)
		end
		if KSR.isflagset(5) then
			KSR.setbflag(6)
			KSR.setbflag(7)
		end
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		return
	end
	local out = ""
	for _, bit in ipairs({1, 2, 4, 16, 32, 128}) do
		out = out .. bit .. "=" .. KSR.nathelper.nat_uac_test(bit) .. ";"
	end
	KSR.hdr.append_to_reply("X-NAT: " .. out .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
