package kemitest

import "github.com/kemisip/kemi/kemi"

// CanSendLazy reports whether tm may send a request built from origin as
// bytes (kemi.LazyRequestSender): origin is lazy and no send hook is
// loaded, as the engine decides.
func (h *Host) CanSendLazy(origin *kemi.Msg) bool {
	return origin.Lazy() != nil && len(h.Hooks) == 0
}

// SendRequestBytes records b, a request written already, as Kind
// "request" (kemi.LazyRequestSender).
func (h *Host) SendRequestBytes(dst kemi.Dest, b []byte) error {
	if dst.Sock == nil {
		for _, s := range h.Socks {
			if s.Proto == dst.Proto {
				dst.Sock = s
				break
			}
		}
	}
	return h.record(Sent{Kind: "request", Msg: string(b), Dest: dst})
}

// AppendVia appends the value of Via's header (kemi.LazyRequestSender).
func (h *Host) AppendVia(buf []byte, m *kemi.Msg, dst *kemi.Dest, branch string) ([]byte, bool) {
	v := h.Via(m, dst, branch)
	if v == nil {
		return buf, false
	}
	return append(buf, v.Value()...), true
}

var _ kemi.LazyRequestSender = (*Host)(nil)
