package maxfwd

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.maxfwd.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "maxfwd", Name: "process_maxfwd", Params: kemi.I, Return: kemi.ReturnInt, Func: mod.processMaxfwd},
		{Module: "maxfwd", Name: "is_maxfwd_lt", Params: kemi.I, Return: kemi.ReturnInt, Func: mod.isMaxfwdLt},
	}
}

// Return codes of process_maxfwd.
const (
	resAdded       = 2  // no header: one was added with the limit
	resDecremented = 1  // the value was decremented
	resZero        = -1 // the value is 0 (the script replies 483); also a bad limit
	resError       = -2 // the header is invalid or could not be changed
)

// Return codes of is_maxfwd_lt.
const (
	ltYes     = 1  // the value is lower than the limit
	ltNo      = -1 // the value is not lower; also a bad limit
	ltMissing = -2 // no Max-Forwards header
	ltInvalid = -3 // the header is invalid
)

// processMaxfwd adds a Max-Forwards header with the given value when there
// is none, or decrements the first one. A value above max_limit is first
// lowered so that the result is max_limit.
func (mod *Module) processMaxfwd(m *kemi.Msg, a kemi.Args) kemi.Value {
	limit := a.Int(0)
	if limit < 0 || limit > maxValue {
		m.Errorf(mod.log, "process_maxfwd: invalid limit %d (want 0..%d)", limit, maxValue)
		return kemi.Int(resZero)
	}
	if !m.IsRequest() {
		m.Errorf(mod.log, "process_maxfwd: not a request")
		return kemi.Int(resError)
	}
	if lm := m.Lazy(); lm != nil && lm.Find(sipmsg.HdrMaxForwards) != sipmsg.NoHeader {
		return mod.processLazy(m, lm)
	}
	idx, val, err := maxForwards(m)
	// the script took care of Max-Forwards: core forwarding and tm leave it alone
	m.MaxFwdChecked = true
	switch {
	case idx < 0:
		h := sip.MaxForwardsHeader(limit)
		m.AddHeadersFirst(&h)
		mod.added.Inc()
		return kemi.Int(resAdded)
	}
	next, res, ok := mod.decrement(m, val, err)
	if ok {
		setMaxForwards(m, idx, next)
	}
	return res
}

// decrement is what process_maxfwd does with the value of the header
// there is: the value to write and the result, or, when ok is false,
// the result alone (an invalid value, or 0).
func (mod *Module) decrement(m *kemi.Msg, val int, err error) (next int, res kemi.Value, ok bool) {
	switch {
	case err != nil:
		mod.invalid.Inc()
		m.Errorf(mod.log, "process_maxfwd: %v", err)
		return 0, kemi.Int(resError), false
	case val == 0:
		mod.exceeded.Inc()
		return 0, kemi.Int(resZero), false
	}
	if limit := int(mod.maxLimit.Load()); val > limit {
		mod.log.Debug("Max-Forwards lowered to max_limit", "value", val, "max_limit", limit)
		mod.capped.Inc()
		val = limit + 1
	}
	return val - 1, kemi.Int(resDecremented), true
}

// processLazy is processMaxfwd on a lazy message that has a
// Max-Forwards header: its value decremented in place (a lump).
func (mod *Module) processLazy(m *kemi.Msg, lm *sipmsg.Msg) kemi.Value {
	id := lm.Find(sipmsg.HdrMaxForwards)
	val, err := maxForwardsValue(lm.Value(id))
	m.MaxFwdChecked = true
	next, res, ok := mod.decrement(m, val, err)
	if !ok {
		return res
	}
	var n [8]byte
	lm.SetValue(id, strconv.AppendInt(n[:0], int64(next), 10))
	return res
}

// isMaxfwdLt tests whether the Max-Forwards value is lower than the limit.
func (mod *Module) isMaxfwdLt(m *kemi.Msg, a kemi.Args) kemi.Value {
	limit := a.Int(0)
	if limit < 0 || limit > maxValue {
		m.Errorf(mod.log, "is_maxfwd_lt: invalid limit %d (want 0..%d)", limit, maxValue)
		return kemi.Int(ltNo)
	}
	idx, val, err := maxForwards(m)
	switch {
	case idx < 0:
		return kemi.Int(ltMissing)
	case err != nil:
		mod.invalid.Inc()
		m.Errorf(mod.log, "is_maxfwd_lt: %v", err)
		return kemi.Int(ltInvalid)
	case val >= limit:
		return kemi.Int(ltNo)
	}
	return kemi.Int(ltYes)
}

// maxForwards finds the first Max-Forwards header and parses its value the
// way Kamailio does: surrounding white space is ignored, the rest must be
// at most five digits (an empty value counts as 0). idx is -1 when there is
// no header.
func maxForwards(m *kemi.Msg) (idx, val int, err error) {
	idx = m.IndexOfHeader("Max-Forwards")
	if idx < 0 {
		return -1, 0, nil
	}
	val, err = maxForwardsValue([]byte(m.HeaderList()[idx].Value()))
	return idx, val, err
}

// maxForwardsValue parses a Max-Forwards value as Kamailio does (see
// maxForwards).
func maxForwardsValue(v []byte) (int, error) {
	text := bytes.TrimSpace(v)
	if len(text) > 5 {
		return 0, fmt.Errorf("invalid Max-Forwards value %q", text)
	}
	n := 0
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid Max-Forwards value %q", text)
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("invalid Max-Forwards value %q", text)
	}
	return n, nil
}

// setMaxForwards replaces header number idx (a Max-Forwards header) with a
// new one holding val. A new header is used rather than changing the old
// one in place, because sipgo's clones share Max-Forwards headers.
func setMaxForwards(m *kemi.Msg, idx, val int) {
	h := sip.MaxForwardsHeader(uint32(val))
	m.HeaderList()[idx] = &h
	// point sipgo's shortcut at the new header: the first header with its
	// exact name is now the one just stored
	switch {
	case m.IsRequest():
		m.Request().ReplaceHeader(&h)
	case m.IsReply():
		m.Response().ReplaceHeader(&h)
	}
}
