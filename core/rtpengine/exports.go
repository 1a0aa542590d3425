package rtpengine

import "github.com/kemisip/kemi/kemi"

// Exports returns KSR.rtpengine: the 56 functions of Kamailio's KEMI.
// Most come in three forms: name0 without arguments, name(flags) and
// name2(flags, via_branch), where via_branch is "1", "2" or "auto" (the
// top Via's branch, the second's, or the one that names the call leg of
// a request or reply) or "none".
func (mod *Module) Exports() []kemi.Export {
	var out []kemi.Export
	x := func(name string, params []kemi.ParamKind, f kemi.Func) {
		out = append(out, kemi.Export{Module: "rtpengine", Name: name, Params: params, Return: kemi.ReturnInt, Func: f})
	}
	// three adds name0, name and name2 for a function fn(m, flags,
	// hasFlags, via).
	three := func(name string, fn func(m *kemi.Msg, flags string, hasFlags bool, via string) kemi.Value) {
		x(name+"0", nil, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return fn(m, "", false, "") })
		x(name, kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return fn(m, a.Str(0), true, "") })
		x(name+"2", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return fn(m, a.Str(0), true, a.Str(1)) })
	}
	// simple is a command whose only effect is rtpengine's "ok".
	simple := func(fn, cmd string) func(m *kemi.Msg, flags string, hasFlags bool, via string) kemi.Value {
		return func(m *kemi.Msg, flags string, hasFlags bool, via string) kemi.Value {
			return mod.do(m, command{fn: fn, cmd: cmd, flags: flags, hasFlags: hasFlags, via: via})
		}
	}
	three("rtpengine_manage", mod.manage)
	three("rtpengine_offer", simple("rtpengine_offer", cmdOffer))
	three("rtpengine_answer", mod.answer)
	three("rtpengine_delete", simple("rtpengine_delete", cmdDelete))
	three("rtpengine_query", simple("rtpengine_query", cmdQuery))
	three("rtpengine_connect", simple("rtpengine_connect", cmdConnect))
	for _, c := range []struct{ name, cmd string }{
		{"block_media", cmdBlockMedia}, {"unblock_media", cmdUnblockMedia},
		{"block_dtmf", cmdBlockDTMF}, {"unblock_dtmf", cmdUnblockDTMF},
		{"silence_media", cmdSilenceMedia}, {"unsilence_media", cmdUnsilenceMedia},
		{"stop_media", cmdStopMedia},
		{"start_forwarding", cmdStartForwarding}, {"stop_forwarding", cmdStopForwarding},
	} {
		three(c.name, simple(c.name, c.cmd))
	}
	playMedia := simple("play_media", cmdPlayMedia)
	x("play_media", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return playMedia(m, a.Str(0), true, "") })
	x("play_media2", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return playMedia(m, a.Str(0), true, a.Str(1)) })
	playDTMF := simple("play_dtmf", cmdPlayDTMF)
	x("play_dtmf", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return playDTMF(m, a.Str(0), true, "") })
	startRec, stopRec := simple("start_recording", cmdStartRecording), simple("stop_recording", cmdStopRecording)
	x("start_recording", nil, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return startRec(m, "", false, "") })
	x("stop_recording", nil, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return stopRec(m, "", false, "") })
	x("rtpengine_query_v", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.queryV(m, a.Str(0), a.Str(1)) })
	x("rtpengine_subscribe_request", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr},
		func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.subscribeRequest(m, a.Str(0), a.Str(1), a.Str(2), a.Str(3))
		})
	subAnswer, unsub := simple("rtpengine_subscribe_answer", cmdSubscribeAns), simple("rtpengine_unsubscribe", cmdUnsubscribe)
	x("rtpengine_subscribe_answer", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return subAnswer(m, a.Str(0), true, "") })
	x("rtpengine_unsubscribe", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return unsub(m, a.Str(0), true, "") })
	x("set_rtpengine_set", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setSets(m, a.Int(0), -1) })
	x("set_rtpengine_set2", kemi.II, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setSets(m, a.Int(0), a.Int(1)) })
	return out
}
