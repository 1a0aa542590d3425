-- Calls the KSR.rtpengine function named in X-Fn with the flags string
-- in X-Flags (none when the header is absent) and answers 200 with its
-- return value in X-Ret (an ACK gets no answer), on kemi and on Kamailio
-- 5.6 alike.
function ksr_request_route()
	local fn = KSR.hdr.get("X-Fn")
	local flags = KSR.hdr.get("X-Flags")
	local ret
	if flags == nil then
		ret = KSR.rtpengine[fn]()
	else
		ret = KSR.rtpengine[fn](flags)
	end
	if KSR.is_ACK() then
		return
	end
	KSR.hdr.append_to_reply("X-Ret: " .. ret .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
