package rtpengine

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Commands of the ng protocol, as rtpengine spells them.
const (
	cmdOffer           = "offer"
	cmdAnswer          = "answer"
	cmdDelete          = "delete"
	cmdQuery           = "query"
	cmdPing            = "ping"
	cmdStartRecording  = "start recording"
	cmdStopRecording   = "stop recording"
	cmdBlockDTMF       = "block DTMF"
	cmdUnblockDTMF     = "unblock DTMF"
	cmdBlockMedia      = "block media"
	cmdUnblockMedia    = "unblock media"
	cmdSilenceMedia    = "silence media"
	cmdUnsilenceMedia  = "unsilence media"
	cmdStartForwarding = "start forwarding"
	cmdStopForwarding  = "stop forwarding"
	cmdPlayMedia       = "play media"
	cmdStopMedia       = "stop media"
	cmdPlayDTMF        = "play DTMF"
	cmdSubscribeReq    = "subscribe request"
	cmdSubscribeAns    = "subscribe answer"
	cmdUnsubscribe     = "unsubscribe"
	cmdConnect         = "connect"
)

// directionalCommands send the from-tag only when the flags name a
// direction (from-tag=..., "directional"): without one they act on the
// whole call.
var directionalCommands = map[string]bool{
	cmdBlockDTMF: true, cmdUnblockDTMF: true, cmdBlockMedia: true, cmdUnblockMedia: true,
	cmdSilenceMedia: true, cmdUnsilenceMedia: true, cmdStartForwarding: true, cmdStopForwarding: true,
}

// Transport bits: what the bare words RTP, AVP, SRTP, AVPF, DTLS and the
// full protocol names say; transportSet marks that one was given.
const (
	trSecure     = 0x001
	trFeedback   = 0x002
	trDTLS       = 0x004
	transportSet = 0x100
)

var transportNames = map[int]string{
	0x00: "RTP/AVP",
	0x01: "RTP/SAVP",
	0x02: "RTP/AVPF",
	0x03: "RTP/SAVPF",
	0x04: "UDP/TLS/RTP/SAVP",
	0x05: "UDP/TLS/RTP/SAVP",
	0x06: "UDP/TLS/RTP/SAVPF",
	0x07: "UDP/TLS/RTP/SAVPF",
}

// Via-branch selections (the via-branch= flag and the second argument of
// the *2 functions).
const (
	viaNone  = 0
	viaFirst = 1
	viaSecnd = 2
	viaAuto  = 3
)

// msgFacts is what a command takes from the SIP message.
type msgFacts struct {
	isReply  bool
	callID   string
	fromTag  string
	toTag    string
	src      netip.Addr // the address the message came from
	viaFirst string     // branch of the top Via
	viaSecnd string     // branch of the second Via
	sdp      string     // the body, for offer and answer
}

// ngFlags is a flags string parsed the way Kamailio's rtpengine module
// parses it, ready to be put in a command dictionary.
type ngFlags struct {
	dict      map[string]any // values given as key=value, and integers
	flags     []string       // bare words
	replace   []string
	direction []string
	rtcpMux   []string
	sdes      []string
	t38       []string
	fromTags  []string
	codec     map[string][]string
	transport int

	callID      string
	fromTag     string
	toTag       string
	to          bool // send the to-tag
	directional bool // the from-tag was set, or "directional" given
	via         int
}

// parseFlags parses s, Kamailio's flags string: words separated by
// spaces, each a bare word or key=value. cmd may change (force-answer
// turns an offer into an answer).
func parseFlags(s string, cmd *string, f *ngFlags) error {
	for _, word := range strings.Fields(s) {
		key, val, hasVal := strings.Cut(word, "=")
		if key == "" {
			continue
		}
		if f.listFlag(key, val, hasVal) {
			continue
		}
		if f.codecFlag(key, val, hasVal) {
			continue
		}
		done, err := f.special(key, val, hasVal, cmd)
		if err != nil {
			if hasVal {
				return fmt.Errorf("flag %q (value %q): %w", key, val, err)
			}
			return fmt.Errorf("flag %q: %w", key, err)
		}
		if done {
			continue
		}
		if hasVal {
			f.dict[key] = val
		} else {
			f.flags = append(f.flags, key)
		}
	}
	return nil
}

// prefixed matches "name=value" and "name-value" (replace-origin,
// SDES-off, rtcp-mux-demux) and returns the value.
func prefixed(key, name, val string, hasVal bool) (string, bool) {
	if key == name {
		return val, hasVal && val != ""
	}
	rest, ok := strings.CutPrefix(key, name+"-")
	if !ok || rest == "" {
		return "", false
	}
	return rest, true
}

// listFlag takes the words that add to a list of their own:
// replace-origin, SDES-off, T38-decode (or T.38-), rtcp-mux-demux.
func (f *ngFlags) listFlag(key, val string, hasVal bool) bool {
	for _, l := range []struct {
		name string
		list *[]string
	}{{"replace", &f.replace}, {"SDES", &f.sdes}, {"T38", &f.t38}, {"T.38", &f.t38}, {"rtcp-mux", &f.rtcpMux}} {
		if v, ok := prefixed(key, l.name, val, hasVal); ok {
			*l.list = append(*l.list, v)
			return true
		}
	}
	return false
}

// codecNames maps the codec flags to their key in the "codec" dictionary.
var codecNames = []struct{ flag, alias, key string }{
	{"transcode", "codec-transcode", "transcode"},
	{"codec-strip", "", "strip"},
	{"codec-offer", "", "offer"},
	{"codec-mask", "", "mask"},
	{"codec-set", "", "set"},
	{"codec-except", "", "except"},
}

func (f *ngFlags) codecFlag(key, val string, hasVal bool) bool {
	for _, c := range codecNames {
		v, ok := prefixed(key, c.flag, val, hasVal)
		if !ok && c.alias != "" {
			v, ok = prefixed(key, c.alias, val, hasVal)
		}
		if ok {
			if f.codec == nil {
				f.codec = map[string][]string{}
			}
			f.codec[c.key] = append(f.codec[c.key], v)
			return true
		}
	}
	return false
}

// special handles the words that set fields of the command rather than
// going to "flags" or the dictionary as they are. It reports whether the
// word was taken.
func (f *ngFlags) special(key, val string, hasVal bool, cmd *string) (bool, error) {
	switch key {
	case "RTP", "AVP":
		if hasVal {
			return false, nil
		}
		f.transport |= transportSet
		if key == "RTP" {
			f.transport &^= trSecure
		} else {
			f.transport &^= trFeedback
		}
	case "TOS":
		if !hasVal {
			return false, nil
		}
		f.dict["TOS"] = int64(atoiPrefix(val))
	case "SRTP", "AVPF", "DTLS":
		if hasVal {
			return false, nil
		}
		f.transport |= transportSet | map[string]int{"SRTP": trSecure, "AVPF": trFeedback, "DTLS": trDTLS}[key]
	case "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF":
		if hasVal {
			return false, nil
		}
		f.transport = transportSet | map[string]int{"RTP/AVP": 0, "RTP/AVPF": 2, "RTP/SAVP": 1, "RTP/SAVPF": 3,
			"UDP/TLS/RTP/SAVP": 4, "UDP/TLS/RTP/SAVPF": 6}[key]
	case "to-tag":
		if hasVal {
			f.toTag = val
		}
		f.to = true
	case "call-id":
		if !hasVal {
			return false, fmt.Errorf("missing value")
		}
		f.callID = val
	case "from-tag":
		if !hasVal {
			return false, fmt.Errorf("missing value")
		}
		f.fromTag = val
		f.directional = true
	case "from-tags":
		if !hasVal {
			return false, fmt.Errorf("missing value")
		}
		f.fromTags = append(f.fromTags, val)
	case "internal", "external":
		f.direction = append(f.direction, key)
	case "direction":
		f.direction = append(f.direction, val)
	case "via-branch":
		if !hasVal {
			return false, fmt.Errorf("missing value")
		}
		v, err := parseVia(val)
		if err != nil {
			return false, err
		}
		f.via = v
	case "repacketize":
		if !hasVal {
			return false, fmt.Errorf("missing value")
		}
		n := atoiPrefix(val)
		if n == 0 {
			return false, fmt.Errorf("invalid value")
		}
		f.dict["repacketize"] = int64(n)
	case "directional":
		f.directional = true
	case "force-answer":
		if *cmd != cmdOffer {
			return false, fmt.Errorf("cannot force answer in non-offer command")
		}
		*cmd = cmdAnswer
	case "delete-delay":
		// Kamailio sends it twice: as the integer rtpengine reads, and
		// (falling through to the generic case) as the string given
		if hasVal {
			f.dict["delete delay"] = int64(atoiPrefix(val))
		}
		return false, nil
	default:
		return false, nil
	}
	return true, nil
}

// parseVia reads a via-branch selection: 1, 2 or auto. Kamailio's extra
// (an extra-id pseudo-variable) and next (the branch tm will use next)
// need state kemi does not keep for rtpengine, and are refused.
func parseVia(s string) (int, error) {
	switch {
	case s == "auto":
		return viaAuto, nil
	case strings.HasPrefix(s, "1"):
		return viaFirst, nil
	case strings.HasPrefix(s, "2"):
		return viaSecnd, nil
	case s == "extra", s == "next", s == "auto-next", s == "next-auto", s == "auto-extra", s == "extra-auto":
		return viaNone, fmt.Errorf("via-branch %q is not supported by kemi", s)
	}
	return viaNone, fmt.Errorf("invalid value")
}

// atoiPrefix reads the leading decimal digits of s, as C's atoi.
func atoiPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}

func afName(ip netip.Addr) string {
	if ip.Is4() || ip.Is4In6() {
		return "IP4"
	}
	return "IP6"
}

// buildCommand returns the ng dictionary for cmd on the message described
// by mf, with the flags string (hasFlags false for the functions that
// take none) and the via-branch selection of the *2 functions (viaArg ""
// for none). It returns the command actually sent (force-answer) and the
// via-branch used, which keys the call's node with the Call-ID.
func buildCommand(cmd string, mf msgFacts, flags string, hasFlags bool, viaArg string) (map[string]any, string, string, error) {
	f := ngFlags{dict: map[string]any{}, callID: mf.callID, fromTag: mf.fromTag, toTag: mf.toTag}
	if mf.callID == "" {
		return nil, "", "", fmt.Errorf("no Call-ID")
	}
	if mf.fromTag == "" {
		return nil, "", "", fmt.Errorf("no From tag")
	}
	f.dict["supports"] = []string{"load limit"}
	if cmd == cmdOffer || cmd == cmdAnswer || cmd == cmdSubscribeAns {
		f.dict["sdp"] = mf.sdp
	}
	// the to-tag goes with every command but delete and subscribe request,
	// unless the flags ask for it
	f.to = cmd != cmdDelete && cmd != cmdSubscribeReq
	if hasFlags {
		if err := parseFlags(flags, &cmd, &f); err != nil {
			return nil, "", "", err
		}
		putList(f.dict, "direction", f.direction)
		putList(f.dict, "replace", f.replace)
		if len(f.codec) > 0 {
			codec := map[string]any{}
			for k, v := range f.codec {
				codec[k] = v
			}
			f.dict["codec"] = codec
		}
		if f.transport&transportSet != 0 {
			f.dict["transport-protocol"] = transportNames[f.transport&0x7]
		}
		putList(f.dict, "rtcp-mux", f.rtcpMux)
		putList(f.dict, "SDES", f.sdes)
		putList(f.dict, "T.38", f.t38)
	}
	// Kamailio 5.6 sends where the message came from with every command
	// (later versions only with a flags string, or the received-from=
	// flag's address); a received-from=X flag is overwritten, as in 5.6
	if mf.src.IsValid() {
		f.dict["received-from"] = []string{afName(mf.src), mf.src.Unmap().String()}
	}
	f.dict["call-id"] = f.callID

	if viaArg != "" && viaArg != "none" && f.via == viaNone {
		v, err := parseVia(viaArg)
		if err != nil {
			return nil, "", "", fmt.Errorf("via-branch argument %q: %w", viaArg, err)
		}
		f.via = v
	}
	var branch string
	if f.via != viaNone {
		sel := f.via
		if sel == viaAuto {
			sel = viaFirst
			if mf.isReply {
				sel = viaSecnd
			}
		}
		branch = mf.viaFirst
		if sel == viaSecnd {
			branch = mf.viaSecnd
		}
		if branch == "" {
			return nil, "", "", fmt.Errorf("no Via branch %d", sel)
		}
		f.dict["via-branch"] = branch
	}
	if err := f.putTags(cmd, mf.isReply); err != nil {
		return nil, "", "", err
	}
	// Kamailio after 5.6 also sends "sip-message-type", which rtpengine
	// before 11 warns about as an unknown key: it is left out
	f.dict["command"] = cmd
	putList(f.dict, "flags", f.flags)
	return f.dict, cmd, branch, nil
}

// putTags adds from-tag and to-tag as the command needs them: an answer
// in a request (ACK, PRACK) names the tags from the callee's side.
func (f *ngFlags) putTags(cmd string, isReply bool) error {
	withTo := func() {
		f.dict["from-tag"] = f.fromTag
		if f.to && f.toTag != "" {
			f.dict["to-tag"] = f.toTag
		}
	}
	switch {
	case directionalCommands[cmd]:
		// Kamailio 5.6 names the side by its from-tag alone (later
		// versions add the to-tag and the flag "directional")
		if f.directional {
			f.dict["from-tag"] = f.fromTag
		}
	case cmd == cmdSubscribeReq:
		putList(f.dict, "from-tags", f.fromTags)
		if f.to && f.toTag != "" {
			f.dict["to-tag"] = f.toTag
		}
	case cmd == cmdSubscribeAns || cmd == cmdUnsubscribe:
		if f.to && f.toTag != "" {
			f.dict["to-tag"] = f.toTag
		}
	case !isReply && cmd != cmdAnswer, isReply && (cmd == cmdDelete || cmd == cmdAnswer), cmd == cmdConnect, f.directional:
		withTo()
	default:
		if f.toTag == "" {
			return fmt.Errorf("no To tag")
		}
		f.dict["from-tag"] = f.toTag
		f.dict["to-tag"] = f.fromTag
	}
	return nil
}

func putList(d map[string]any, key string, l []string) {
	if len(l) > 0 {
		d[key] = l
	}
}
