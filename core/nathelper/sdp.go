package nathelper

import (
	"fmt"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// The fix_nated_sdp flags.
const (
	sdpAddDirection  = 0x01 // a=direction:active in every media section
	sdpFixMediaIP    = 0x02 // c= (and a=rtcp) addresses
	sdpAddNoRTPProxy = 0x04 // the nortpproxy_str line
	sdpFixOriginIP   = 0x08 // o= (and a=rtcp) addresses
)

// fixNatedSDP is KSR.nathelper.fix_nated_sdp(flags) and, with ip,
// fix_nated_sdp_ip(flags, ip): the SDP's addresses become the source
// address (or ip) and lines are added as the flags say. 1 when an
// address was replaced, 2 when none was, -1 on error (no body, an SDP
// line without an address, mixed address families).
func (mod *Module) fixNatedSDP(m *kemi.Msg, flags int, ip string) kemi.Value {
	fn := "fix_nated_sdp"
	if ip != "" {
		fn = "fix_nated_sdp_ip"
	}
	body := string(m.Body())
	if body == "" {
		return mod.fail(m, fn, "cannot extract body from msg")
	}
	if !sdpContentType(m) {
		return mod.fail(m, fn, "content type mismatching")
	}
	if ip == "" {
		ip = m.Src.Addr().Unmap().String()
	}
	lines := splitLines(body)
	var tail []string // lines added at the end of the body
	if flags&sdpAddDirection != 0 {
		lines = addDirection(lines)
	}
	if flags&sdpAddNoRTPProxy != 0 && mod.nortpproxy != "" {
		tail = append(tail, mod.nortpproxy)
	}
	count := 0
	if flags&(sdpFixMediaIP|sdpFixOriginIP) != 0 {
		kinds := []string{"a=rtcp"}
		if flags&sdpFixMediaIP != 0 {
			kinds = append(kinds, "c=")
		}
		if flags&sdpFixOriginIP != 0 {
			kinds = append(kinds, "o=")
		}
		for _, kind := range kinds {
			n, old, err := replaceAddrs(lines, kind, ip)
			if err != nil {
				return mod.fail(m, fn, "%v", err)
			}
			count += n
			if mod.oldMediaIP {
				tail = append(tail, old...)
			}
		}
	}
	if len(tail) > 0 {
		if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
			lines[len(lines)-1] += "\r\n"
		}
		for _, l := range tail {
			lines = append(lines, l+"\r\n")
		}
	}
	m.SetBody([]byte(strings.Join(lines, "")), "")
	if count > 0 {
		mod.rewrites.Inc()
		return kemi.OK
	}
	return kemi.Int(2)
}

// sdpContentType accepts a body without Content-Type, application/sdp and
// multipart/mixed (whose SDP part holds the lines), as Kamailio's
// check_content_type.
func sdpContentType(m *kemi.Msg) bool {
	ct, ok := m.HeaderValue("Content-Type")
	if !ok {
		return true
	}
	media, _, _ := strings.Cut(ct, ";")
	media = strings.ToLower(strings.TrimSpace(media))
	return media == "application/sdp" || media == "multipart/mixed"
}

// splitLines splits text into lines that keep their line ends.
func splitLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// lineEnd returns the line end of l ("\r\n", "\n" or "").
func lineEnd(l string) string {
	switch {
	case strings.HasSuffix(l, "\r\n"):
		return "\r\n"
	case strings.HasSuffix(l, "\n"):
		return "\n"
	}
	return ""
}

// addDirection puts a=direction:active at the end of every media section.
func addDirection(lines []string) []string {
	const dir = "a=direction:active"
	var out []string
	inMedia := false
	for i, l := range lines {
		if strings.HasPrefix(l, "m=") && i > 0 {
			if inMedia {
				out = append(out, dir+"\r\n")
			}
			inMedia = true
		}
		out = append(out, l)
	}
	if inMedia {
		if n := len(out); n > 0 && lineEnd(out[n-1]) == "" {
			out[n-1] += "\r\n"
		}
		out = append(out, dir+"\r\n")
	}
	return out
}

// replaceAddrs puts ip into every line of the kind ("c=", "o=", "a=rtcp")
// that carries an address after IP4 or IP6: an a=rtcp line without one is
// left alone, a c= or o= line without one is an error, and so are lines of
// one kind with both families. A null address (0.0.0.0, on hold) and one
// equal to ip are kept. It returns how many it replaced and the
// a=oldmediaip lines that keep the old ones.
func replaceAddrs(lines []string, kind, ip string) (int, []string, error) {
	n := 0
	family := ""
	var old []string
	for i, l := range lines {
		if !strings.HasPrefix(l, kind) {
			continue
		}
		end := lineEnd(l)
		text := strings.TrimRight(l[:len(l)-len(end)], " \t\r")
		fields := strings.Fields(text[len(kind):])
		at := -1
		for j := 0; j+1 < len(fields); j++ {
			if fields[j] == "IP4" || fields[j] == "IP6" {
				at = j
				break
			}
		}
		if at < 0 {
			if kind == "a=rtcp" {
				continue
			}
			return 0, nil, fmt.Errorf("no `IP[4|6]' in `%s' field", kind)
		}
		fam, addr := fields[at], fields[at+1]
		if family == "" {
			family = fam
		} else if fam != family {
			return 0, nil, fmt.Errorf("mismatching address families in '%s' SDP", kind)
		}
		if isNullAddr(addr, fam) || addr == ip {
			continue
		}
		// replace the address token where it stands
		k := strings.Index(text, " "+fam+" ")
		if k < 0 {
			continue
		}
		rest := text[k+len(fam)+2:]
		j := strings.Index(rest, addr)
		if j < 0 {
			continue
		}
		pos := k + len(fam) + 2 + j
		lines[i] = text[:pos] + ip + text[pos+len(addr):] + end
		n++
		if fam == "IP6" {
			old = append(old, "a=oldmediaip6:"+addr)
		} else {
			old = append(old, "a=oldmediaip:"+addr)
		}
	}
	return n, old, nil
}

// isNullAddr reports an on-hold address: 0.0.0.0, or an IPv6 address of
// zeros and colons.
func isNullAddr(addr, fam string) bool {
	if fam == "IP6" {
		return strings.Trim(addr, "0:") == ""
	}
	return addr == "0.0.0.0"
}

// sdpConn is the address of a c= line: its family (IP4, IP6) and address.
type sdpConn struct{ fam, addr string }

func parseConn(l string) (sdpConn, bool) {
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "c="))
	if len(f) < 3 || f[1] != "IP4" && f[1] != "IP6" {
		return sdpConn{}, false
	}
	addr, _, _ := strings.Cut(f[2], "/") // multicast TTL
	return sdpConn{f[1], addr}, true
}

// sdpMedia reads the SDP of m: the session c= address and, for each
// media section, its own c= address or the session's.
func sdpMedia(m *kemi.Msg) (session sdpConn, media []sdpConn, ok bool) {
	body := string(m.Body())
	if body == "" || !sdpContentType(m) {
		return session, nil, false
	}
	inMedia := false
	for _, l := range splitLines(body) {
		l = strings.TrimRight(l, "\r\n")
		switch {
		case strings.HasPrefix(l, "m="):
			inMedia = true
			media = append(media, session)
		case strings.HasPrefix(l, "c="):
			c, ok := parseConn(l)
			if !ok {
				continue
			}
			if inMedia {
				media[len(media)-1] = c
			} else {
				session = c
				// media sections so far have none of their own (none yet)
			}
		}
	}
	return session, media, true
}

// sdpPrivate is test 8: a media address is a private IPv4 address. As in
// Kamailio the scan stops at the first media without an IPv4 address or
// on hold.
func (mod *Module) sdpPrivate(m *kemi.Msg) bool {
	_, media, ok := sdpMedia(m)
	if !ok {
		return false
	}
	for _, c := range media {
		if c.fam != "IP4" || isNullAddr(c.addr, c.fam) {
			return false
		}
		if mod.isPrivate(c.addr) {
			return true
		}
	}
	return false
}

// sdpConnDiffers is test 256: the session's c= address is not the source
// address.
func sdpConnDiffers(m *kemi.Msg, src interface{ String() string }) bool {
	session, _, ok := sdpMedia(m)
	if !ok || session.addr == "" {
		return false
	}
	return hostsDiffer(session.addr, src.String())
}
