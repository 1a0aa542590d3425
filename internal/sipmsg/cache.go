package sipmsg

// cache keeps the values parsed on demand, so that a route asking five
// times for the top Via's branch parses it once. A change to headers of a
// type drops that type's entries.
type cache struct {
	ruriOK bool
	ruri2  URI
	viaOK  bool
	via    Via
	cseqOK bool
	cseq   CSeq
	fromOK bool
	from   NameAddr
	toOK   bool
	to     NameAddr
}

func (c *cache) drop(t HdrType) {
	switch t {
	case HdrVia:
		c.viaOK = false
	case HdrCSeq:
		c.cseqOK = false
	case HdrFrom:
		c.fromOK = false
	case HdrTo:
		c.toOK = false
	}
}
