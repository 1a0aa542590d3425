package dispatcher

import "github.com/kemisip/kemi/kemi"

// candidate is one stored failover record.
type candidate struct {
	uri   string
	grp   int
	attrs string
	dstid string
}

// loadCandidates returns the records in $xavp(_dsdst_), the one in use
// first.
func loadCandidates(m *kemi.Msg) []candidate {
	var out []candidate
	for i := 0; ; i++ {
		r := m.AVPs.X.Get("_dsdst_", i)
		if r == nil {
			return out
		}
		var cd candidate
		cd.uri, _ = strField(r, fieldURI)
		cd.grp, _ = intField(r, fieldGrp)
		cd.attrs, _ = strField(r, fieldAttrs)
		cd.dstid, _ = strField(r, fieldDstID)
		out = append(out, cd)
	}
}
