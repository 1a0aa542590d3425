package textops

import (
	"fmt"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// decodeHex decodes hexadecimal text, ignoring spaces and tabs, as
// Kamailio's ksr_hex_decode_ws.
func decodeHex(s string) ([]byte, error) {
	var out []byte
	var hi byte
	half := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' {
			if half {
				return nil, fmt.Errorf("invalid hex data %q at %d", s, i)
			}
			continue
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return nil, fmt.Errorf("invalid hex data %q at %d", s, i)
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half || len(out) == 0 {
		return nil, fmt.Errorf("invalid hex data %q", s)
	}
	return out, nil
}

// bodyArg returns the body argument, hex-decoded when hex is set.
func (mod *Module) bodyArg(m *kemi.Msg, fn, txt string, hex bool) ([]byte, bool) {
	if txt == "" {
		m.Errorf(mod.log, "%s: empty body", fn)
		return nil, false
	}
	if !hex {
		return []byte(txt), true
	}
	b, err := decodeHex(txt)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return nil, false
	}
	return b, true
}

// setBody replaces the body and the Content-Type.
func (mod *Module) setBody(m *kemi.Msg, fn, txt, ctype string, hex bool) kemi.Value {
	body, ok := mod.bodyArg(m, fn, txt, hex)
	if !ok || !m.HasMessage() {
		return kemi.Fail
	}
	if strings.TrimSpace(ctype) == "" || strings.ContainsAny(ctype, "\r\n") {
		m.Errorf(mod.log, "%s: invalid content type %q", fn, ctype)
		return kemi.Fail
	}
	m.SetBody(body, ctype)
	return kemi.OK
}

// setReplyBody stores the body of the reply the module sl or tm will send
// for this request.
func (mod *Module) setReplyBody(m *kemi.Msg, fn, txt, ctype string, hex bool) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "%s: not a request", fn)
		return kemi.Fail
	}
	body, ok := mod.bodyArg(m, fn, txt, hex)
	if !ok {
		return kemi.Fail
	}
	if strings.TrimSpace(ctype) == "" || strings.ContainsAny(ctype, "\r\n") {
		m.Errorf(mod.log, "%s: invalid content type %q", fn, ctype)
		return kemi.Fail
	}
	if m.ReplyContentType != "" {
		m.Errorf(mod.log, "%s: the reply body is already set", fn)
		return kemi.Fail
	}
	m.ReplyContentType, m.ReplyBody = ctype, body
	return kemi.OK
}

// mediaType returns "type/subtype" of a Content-Type value, lower case.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// contentType returns the media type of the message, application/sdp
// when there is no Content-Type (RFC 3261 default, as Kamailio assumes).
func contentType(m *kemi.Msg) (full, media string) {
	v, ok := m.HeaderBody("Content-Type")
	if !ok {
		return "", "application/sdp"
	}
	return v, mediaType(v)
}

// hasBody reports a non-empty body, of the given media type if mime is
// not empty.
func (mod *Module) hasBody(m *kemi.Msg, mime string) kemi.Value {
	if mime != "" {
		t, sub, ok := strings.Cut(strings.TrimSpace(mime), "/")
		if !ok || t == "" || sub == "" || strings.ContainsAny(mime, ",;") {
			m.Errorf(mod.log, "has_body_type: unsupported mime %q", mime)
			return kemi.Fail
		}
	}
	if len(m.Body()) == 0 {
		return kemi.Fail
	}
	if mime == "" {
		return kemi.OK
	}
	_, media := contentType(m)
	return kemi.IntBool(media == mediaType(mime))
}

// isAudioOnHold returns 1 for an audio stream on hold the RFC 2543 way
// (connection address 0.0.0.0), 2 for the RFC 3264 way (a=sendonly or
// a=inactive), -1 otherwise.
func (mod *Module) isAudioOnHold(m *kemi.Msg, a kemi.Args) kemi.Value {
	sdp, ok := sdpBody(m)
	if !ok {
		return kemi.Fail
	}
	if h := audioHold(sdp); h > 0 {
		return kemi.Int(h)
	}
	return kemi.Fail
}

// sdpBody returns the SDP of the message: the body when it is
// application/sdp, or the first application/sdp part of a multipart/mixed
// body.
func sdpBody(m *kemi.Msg) (string, bool) {
	body := string(m.Body())
	if body == "" {
		return "", false
	}
	full, media := contentType(m)
	switch media {
	case "application/sdp":
		return body, true
	case "multipart/mixed":
		mp, err := parseMultipart(body, boundaryOf(full))
		if err != nil {
			return "", false
		}
		for _, p := range mp.parts {
			if mediaType(p.contentType()) == "application/sdp" {
				return p.content, true
			}
		}
	}
	return "", false
}

// Hold kinds, as Kamailio numbers them.
const (
	holdRFC2543 = 1
	holdRFC3264 = 2
)

type sdpStream struct {
	media   string
	port    string
	hold    int
	conn    string
	trickle bool
}

// audioHold scans SDP text and returns the hold kind of the first audio
// stream on hold, or 0.
func audioHold(sdp string) int {
	var (
		sessHold    int
		sessDirSeen bool
		sessConn    string
		cur         *sdpStream
	)
	finish := func(s *sdpStream) int {
		if s == nil || s.media != "audio" {
			return 0
		}
		if s.hold == 0 {
			conn := s.conn
			if conn == "" {
				conn = sessConn
			}
			if conn == "0.0.0.0" && !(s.trickle && s.port == "9") {
				s.hold = holdRFC2543
			}
		}
		if s.hold != 0 {
			return s.hold
		}
		return sessHold
	}
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'v':
			// a new session description
			if h := finish(cur); h > 0 {
				return h
			}
			cur, sessHold, sessDirSeen, sessConn = nil, 0, false, ""
		case 'm':
			if h := finish(cur); h > 0 {
				return h
			}
			f := strings.Fields(val)
			cur = &sdpStream{}
			if len(f) > 0 {
				cur.media = f[0]
			}
			if len(f) > 1 {
				cur.port, _, _ = strings.Cut(f[1], "/")
			}
		case 'c':
			f := strings.Fields(val)
			addr := ""
			if len(f) >= 3 && strings.EqualFold(f[1], "IP4") {
				addr, _, _ = strings.Cut(f[2], "/")
			}
			if cur != nil {
				cur.conn = addr
				if addr == "" {
					cur.conn = "-"
				}
			} else {
				sessConn = addr
			}
		case 'a':
			dir := strings.ToLower(val)
			isDir := strings.HasPrefix(dir, "sendrecv") || strings.HasPrefix(dir, "recvonly")
			isHold := strings.HasPrefix(dir, "sendonly") || strings.HasPrefix(dir, "inactive")
			if cur == nil {
				if !sessDirSeen && (isDir || isHold) {
					sessDirSeen = true
					if isHold {
						sessHold = holdRFC3264
					}
				}
				continue
			}
			if isHold {
				cur.hold = holdRFC3264
			}
			if opts, ok := strings.CutPrefix(val, "ice-options:"); ok {
				for _, o := range strings.Fields(opts) {
					if o == "trickle" {
						cur.trickle = true
					}
				}
			}
		}
	}
	return finish(cur)
}
