package dispatcher

import (
	"sync"
	"sync/atomic"

	"github.com/kemisip/kemi/kemi"
)

// Field names of a $xavp(_dsdst_) record and of $xavp(_dsctx_), as
// Kamailio 5.6 names them.
const (
	fieldURI   = "uri"
	fieldGrp   = "grp"
	fieldAttrs = "attrs"
	fieldDstID = "dstid"
	fieldCnt   = "cnt"
)

// xavp_dst_mode and xavp_ctx_mode bits (Kamailio's DS_XAVP_DST_SKIP_ATTRS
// and DS_XAVP_CTX_SKIP_CNT).
const (
	dstModeSkipAttrs = 1
	ctxModeSkipCnt   = 1
)

// xavpConf names the XAVPs the dispatcher writes: the failover records
// ($xavp(_dsdst_)) and the selection context ($xavp(_dsctx_=>cnt)).
type xavpConf struct {
	dst     string // "" stores no records: no failover
	dstMode int
	ctx     string
	ctxMode int
	// records and counts are built once and shared by every message:
	// a kemi.XAVP never changes once built.
	records atomic.Pointer[recordSet]
	counts  [8]*kemi.XAVP
}

// recordSet holds the records of the destinations of one list.
type recordSet struct {
	l *list
	m sync.Map // recordKey -> *kemi.XAVP
}

type recordKey struct {
	d    *dest
	load bool // with dstid
}

// readXAVPConf reads xavp_dst, xavp_dst_mode, xavp_ctx and xavp_ctx_mode.
func readXAVPConf(p *kemi.Params) *xavpConf {
	c := &xavpConf{
		dst:     p.Str("xavp_dst", "_dsdst_"),
		dstMode: p.Int("xavp_dst_mode", 0),
		ctx:     p.Str("xavp_ctx", "_dsctx_"),
		ctxMode: p.Int("xavp_ctx_mode", 0),
	}
	for n := range c.counts {
		c.counts[n] = c.count(n)
	}
	return c
}

// record returns the $xavp(_dsdst_) record of d, a destination of l.
func (c *xavpConf) record(l *list, d *dest, alg int) *kemi.XAVP {
	rs := c.records.Load()
	if rs == nil || rs.l != l {
		// A new list: its destinations are new; drop the old records.
		next := &recordSet{l: l}
		if !c.records.CompareAndSwap(rs, next) {
			return c.build(d, alg)
		}
		rs = next
	}
	k := recordKey{d, alg == algCallLoad}
	if x, ok := rs.m.Load(k); ok {
		return x.(*kemi.XAVP)
	}
	x, _ := rs.m.LoadOrStore(k, c.build(d, alg))
	return x.(*kemi.XAVP)
}

// build builds the record of d as Kamailio's ds_add_xavp_record: fields
// uri, grp, attrs (when d has attrs and xavp_dst_mode does not skip them)
// and, for the call load algorithm, dstid, the last added being read
// first.
func (c *xavpConf) build(d *dest, alg int) *kemi.XAVP {
	fields := make([]*kemi.XAVP, 0, 4)
	if alg == algCallLoad {
		fields = append(fields, kemi.NewXAVP(fieldDstID, kemi.Str(d.duid)))
	}
	if c.dstMode&dstModeSkipAttrs == 0 && d.attrs != "" {
		fields = append(fields, kemi.NewXAVP(fieldAttrs, kemi.Str(d.attrs)))
	}
	fields = append(fields, kemi.NewXAVP(fieldGrp, kemi.Int(d.setID)), kemi.NewXAVP(fieldURI, kemi.Str(d.uri)))
	return kemi.NewXAVPList(c.dst, fields...)
}

// addCount records how many destinations a selection stored, as
// $xavp(_dsctx_=>cnt), unless xavp_ctx_mode skips it.
func (c *xavpConf) addCount(m *kemi.Msg, n int) {
	if c.ctxMode&ctxModeSkipCnt != 0 || c.ctx == "" {
		return
	}
	if n < len(c.counts) {
		m.AVPs.X.Add(c.counts[n])
		return
	}
	m.AVPs.X.Add(c.count(n))
}

func (c *xavpConf) count(n int) *kemi.XAVP {
	return kemi.NewXAVPList(c.ctx, kemi.NewXAVP(fieldCnt, kemi.Int(n)))
}

// current returns the record of the destination in use: the first
// $xavp(_dsdst_), or nil when there is none holding fields.
func (c *xavpConf) current(m *kemi.Msg) *kemi.XAVP {
	if c.dst == "" {
		return nil
	}
	r := m.AVPs.X.Get(c.dst, 0)
	if r == nil || !r.IsList() {
		return nil
	}
	return r
}

// strField returns the first field name of r when it holds a string.
func strField(r *kemi.XAVP, name string) (string, bool) {
	f := r.Field(name, 0)
	if f == nil || f.IsList() || f.Value().Kind != kemi.KindStr {
		return "", false
	}
	return f.Value().Str, true
}

// intField returns the first field name of r when it holds a number.
func intField(r *kemi.XAVP, name string) (int, bool) {
	f := r.Field(name, 0)
	if f == nil || f.IsList() || f.Value().Kind != kemi.KindInt {
		return 0, false
	}
	return int(f.Value().Int), true
}
