package corex

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.corex.
//
// Left out because kemi.Host offers no way to do them: send_data and sendx
// (send raw data), forward_uac* (forward with a new branch Via),
// via_add_srvid and the via_*_xavp_* functions (Via building options the
// engine does not have).
func (mod *Module) Exports() []kemi.Export {
	intFn := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "corex", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		// branches
		intFn("append_branch", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBranch(m, "append_branch", "", "")
		}),
		intFn("append_branch_uri", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBranch(m, "append_branch_uri", a.Str(0), "")
		}),
		intFn("append_branch_uri_q", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBranch(m, "append_branch_uri_q", a.Str(0), a.Str(1))
		}),

		// message tests
		intFn("has_ruri_user", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.IntBool(m.IsRequest() && m.Request().Recipient.User != "")
		}),
		intFn("has_user_agent", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			ua, ok := m.HeaderValue("User-Agent")
			return kemi.IntBool(ok && ua != "")
		}),
		intFn("is_faked_msg", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.IntBool(m.Faked)
		}),

		// extended flags
		intFn("setxflag", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			bit, ok := xflag(a.Int(0))
			if !ok {
				return kemi.Fail
			}
			m.XFlags |= bit
			return kemi.OK
		}),
		intFn("resetxflag", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			bit, ok := xflag(a.Int(0))
			if !ok {
				return kemi.Fail
			}
			m.XFlags &^= bit
			return kemi.OK
		}),
		intFn("isxflagset", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			bit, ok := xflag(a.Int(0))
			return kemi.IntBool(ok && m.XFlags&bit != 0)
		}),

		// sockets and addresses
		intFn("set_send_socket", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setSocket(m, "set_send_socket", a.Str(0), false, false)
		}),
		intFn("set_send_socket_name", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setSocket(m, "set_send_socket_name", a.Str(0), false, true)
		}),
		intFn("set_recv_socket", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setSocket(m, "set_recv_socket", a.Str(0), true, false)
		}),
		intFn("set_recv_socket_name", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setSocket(m, "set_recv_socket_name", a.Str(0), true, true)
		}),
		intFn("is_socket_name", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			name := a.Str(0)
			if name == "" {
				m.Errorf(mod.log, "is_socket_name: empty socket name")
				return kemi.Fail
			}
			return kemi.IntBool(socketByName(m, name) != nil)
		}),
		intFn("set_source_address", kemi.S, mod.setSourceAddress),

		// files
		{Module: "corex", Name: "file_read", Params: kemi.S, Return: kemi.ReturnXval, Func: mod.fileRead},
		intFn("file_write", kemi.SS, mod.fileWrite),
	}
}

// appendBranch adds a branch to uri, or to the R-URI when uri is empty,
// with the current $du, branch flags and forced send socket. Without a uri
// those attributes move to the new branch: they are reset on the message.
func (mod *Module) appendBranch(m *kemi.Msg, fn, uri, q string) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "%s: not a request", fn)
		mod.branchFails.Inc()
		return kemi.Fail
	}
	qv := -1
	if q != "" {
		var err error
		if qv, err = parseQ(q); err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			mod.branchFails.Inc()
			return kemi.Fail
		}
	}
	moveRURI := uri == ""
	if moveRURI {
		uri = m.RURI()
	} else {
		if _, err := kemi.ParseURI(uri); err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			mod.branchFails.Inc()
			return kemi.Fail
		}
	}
	if err := m.AppendBranch(kemi.Branch{URI: uri, DstURI: m.DstURI, Q: qv, Flags: m.BFlags, Sock: m.SendSock}); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		mod.branchFails.Inc()
		return kemi.Fail
	}
	if moveRURI {
		m.DstURI = ""
		m.BFlags = 0
		m.SendSock = nil
	}
	mod.branches.Inc()
	return kemi.OK
}

// parseQ reads a q-value ("0.5", "1", ".25", "1.000") as Kamailio's str2q:
// leading blanks and zeros are skipped, digits after the third decimal are
// ignored, and the value is returned times 1000.
func parseQ(s string) (int, error) {
	t := strings.TrimLeft(s, " \t")
	bad := fmt.Errorf("invalid q value %q", s)
	if t == "" {
		return 0, bad
	}
	intPart, frac, hasDot := strings.Cut(t, ".")
	if hasDot && frac == "" {
		return 0, bad
	}
	for _, c := range []byte(intPart + frac) {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	whole := strings.TrimLeft(intPart, "0")
	switch whole {
	case "":
		q, scale := 0, 100
		for i := 0; i < len(frac) && i < 3; i++ {
			q += int(frac[i]-'0') * scale
			scale /= 10
		}
		return q, nil
	case "1":
		if strings.Trim(frac, "0") != "" {
			return 0, fmt.Errorf("q value %q above 1", s)
		}
		return 1000, nil
	}
	return 0, fmt.Errorf("q value %q above 1", s)
}

// xflag returns the bit of extended flag i (0..63).
func xflag(i int) (uint64, bool) {
	if i < 0 || i > 63 {
		return 0, false
	}
	return 1 << uint(i), true
}

// socketByName finds the listening socket with that name.
func socketByName(m *kemi.Msg, name string) *kemi.Socket {
	if m.Host == nil {
		return nil
	}
	return kemi.SocketByName(m.Host.Sockets(), name)
}

// setSocket sets the forced send socket, or the socket the message is
// taken to have arrived on. As in Kamailio, an empty argument resets the
// forced send socket, whichever function is called.
func (mod *Module) setSocket(m *kemi.Msg, fn, spec string, recv, byName bool) kemi.Value {
	if spec == "" {
		m.SendSock = nil
		return kemi.OK
	}
	var s *kemi.Socket
	if byName {
		s = socketByName(m, spec)
	} else if m.Host != nil {
		var err error
		if s, err = kemi.MatchSocket(m.Host.Sockets(), spec); err != nil {
			m.Errorf(mod.log, "%s: invalid socket %q: %v", fn, spec, err)
			return kemi.Fail
		}
	}
	if s == nil {
		mod.noSocket.Inc()
		mod.log.Warn(fn+": no socket matches", "socket", spec, "at", m.Where())
		return kemi.Fail
	}
	if !recv {
		m.SendSock = s
		return kemi.OK
	}
	m.Rcv = s
	m.Proto = strings.ToLower(s.Proto)
	m.ConnID = 0
	return kemi.OK
}

// setSourceAddress changes the address the message is taken to come from:
// "[proto:]ip[:port]" (the protocol is accepted and ignored, as in
// Kamailio; a missing port is 0). Host names are not resolved.
func (mod *Module) setSourceAddress(m *kemi.Msg, a kemi.Args) kemi.Value {
	spec := a.Str(0)
	_, host, port, err := kemi.ParseSocketAddr(spec)
	if err != nil {
		m.Errorf(mod.log, "set_source_address: invalid address %q: %v", spec, err)
		return kemi.Fail
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		m.Errorf(mod.log, "set_source_address: %q is not an IP address", host)
		return kemi.Fail
	}
	m.Src = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	return kemi.OK
}

// maxFileSize bounds what file_read loads into memory.
const maxFileSize = 64 << 20

// fileRead returns the content of a file; like Kamailio it gives an empty
// string when the file cannot be read.
func (mod *Module) fileRead(m *kemi.Msg, a kemi.Args) kemi.Value {
	path := a.Str(0)
	f, err := os.Open(path)
	if err != nil {
		mod.readErrors.Inc()
		m.Errorf(mod.log, "file_read: %v", err)
		return kemi.Str("")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	switch {
	case err != nil:
		mod.readErrors.Inc()
		m.Errorf(mod.log, "file_read: %v", err)
		return kemi.Str("")
	case len(data) > maxFileSize:
		mod.readErrors.Inc()
		m.Errorf(mod.log, "file_read: %s is larger than %d bytes", path, maxFileSize)
		return kemi.Str("")
	}
	return kemi.Str(string(data))
}

// fileWrite replaces the content of a file, creating it if needed.
func (mod *Module) fileWrite(m *kemi.Msg, a kemi.Args) kemi.Value {
	path := a.Str(0)
	if path == "" {
		mod.writeErrors.Inc()
		m.Errorf(mod.log, "file_write: empty path")
		return kemi.Fail
	}
	if err := os.WriteFile(path, []byte(a.Str(1)), 0o666); err != nil {
		mod.writeErrors.Inc()
		m.Errorf(mod.log, "file_write: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}
