package sipmsg

// HdrType is a well-known header, computed once per header in the index
// pass so that lookups of the headers routing needs compare a byte, not a
// name. HdrOther is every other header: those are found by name.
type HdrType uint8

// The well-known headers. The order is free; the compact forms are those
// of RFC 3261 §7.3.3 and of the extensions that register one (the same
// list as Kamailio's parser/hf.h).
const (
	HdrOther HdrType = iota
	HdrVia
	HdrFrom
	HdrTo
	HdrCallID
	HdrCSeq
	HdrMaxForwards
	HdrRoute
	HdrRecordRoute
	HdrContact
	HdrContentLength
	HdrContentType
	HdrContentEncoding
	HdrExpires
	HdrAuthorization
	HdrProxyAuthorization
	HdrWWWAuthenticate
	HdrProxyAuthenticate
	HdrSupported
	HdrRequire
	HdrProxyRequire
	HdrUnsupported
	HdrAllow
	HdrAllowEvents
	HdrEvent
	HdrSubject
	HdrUserAgent
	HdrServer
	HdrAccept
	HdrAcceptContact
	HdrRejectContact
	HdrRequestDisposition
	HdrReferTo
	HdrReferredBy
	HdrSessionExpires
	HdrPath
	HdrIdentity
	HdrIdentityInfo
	HdrPAssertedIdentity
	HdrPPreferredIdentity
	HdrDiversion
	HdrPrivacy
	HdrDate
	numHdrTypes
)

// hdrNames holds the canonical name of each type (the one written when a
// header is added by type) and its compact form, 0 when it has none.
var hdrNames = [numHdrTypes]struct {
	name    string
	compact byte
	list    bool // the value is a comma-separated list (RFC 3261 §7.3.1)
}{
	HdrVia:                {"Via", 'v', true},
	HdrFrom:               {"From", 'f', false},
	HdrTo:                 {"To", 't', false},
	HdrCallID:             {"Call-ID", 'i', false},
	HdrCSeq:               {"CSeq", 0, false},
	HdrMaxForwards:        {"Max-Forwards", 0, false},
	HdrRoute:              {"Route", 0, true},
	HdrRecordRoute:        {"Record-Route", 0, true},
	HdrContact:            {"Contact", 'm', true},
	HdrContentLength:      {"Content-Length", 'l', false},
	HdrContentType:        {"Content-Type", 'c', false},
	HdrContentEncoding:    {"Content-Encoding", 'e', true},
	HdrExpires:            {"Expires", 0, false},
	HdrAuthorization:      {"Authorization", 0, false},
	HdrProxyAuthorization: {"Proxy-Authorization", 0, false},
	HdrWWWAuthenticate:    {"WWW-Authenticate", 0, false},
	HdrProxyAuthenticate:  {"Proxy-Authenticate", 0, false},
	HdrSupported:          {"Supported", 'k', true},
	HdrRequire:            {"Require", 0, true},
	HdrProxyRequire:       {"Proxy-Require", 0, true},
	HdrUnsupported:        {"Unsupported", 0, true},
	HdrAllow:              {"Allow", 0, true},
	HdrAllowEvents:        {"Allow-Events", 'u', true},
	HdrEvent:              {"Event", 'o', false},
	HdrSubject:            {"Subject", 's', false},
	HdrUserAgent:          {"User-Agent", 0, false},
	HdrServer:             {"Server", 0, false},
	HdrAccept:             {"Accept", 0, true},
	HdrAcceptContact:      {"Accept-Contact", 'a', true},
	HdrRejectContact:      {"Reject-Contact", 'j', true},
	HdrRequestDisposition: {"Request-Disposition", 'd', true},
	HdrReferTo:            {"Refer-To", 'r', false},
	HdrReferredBy:         {"Referred-By", 'b', false},
	HdrSessionExpires:     {"Session-Expires", 'x', false},
	HdrPath:               {"Path", 0, true},
	HdrIdentity:           {"Identity", 'y', false},
	HdrIdentityInfo:       {"Identity-Info", 'n', false},
	HdrPAssertedIdentity:  {"P-Asserted-Identity", 0, true},
	HdrPPreferredIdentity: {"P-Preferred-Identity", 0, true},
	HdrDiversion:          {"Diversion", 0, true},
	HdrPrivacy:            {"Privacy", 0, false},
	HdrDate:               {"Date", 0, false},
}

// String returns the canonical header name, "" for HdrOther.
func (t HdrType) String() string {
	if t >= numHdrTypes {
		return ""
	}
	return hdrNames[t].name
}

// IsList reports whether the header's value is a comma-separated list,
// so that Values splits it.
func (t HdrType) IsList() bool {
	return t < numHdrTypes && hdrNames[t].list
}

// compactTypes maps a compact form ('a'..'z', lower case) to its type.
var compactTypes = func() (c [26]HdrType) {
	for t := HdrType(1); t < numHdrTypes; t++ {
		if b := hdrNames[t].compact; b != 0 {
			c[b-'a'] = t
		}
	}
	return c
}()

// byLen groups the full names by length, with their first letter in
// lower case, so that the index pass compares a name with at most a few
// candidates, without hashing or allocating.
var byLen = func() (m [24][]struct {
	first byte
	t     HdrType
}) {
	for t := HdrType(1); t < numHdrTypes; t++ {
		n := hdrNames[t].name
		m[len(n)] = append(m[len(n)], struct {
			first byte
			t     HdrType
		}{lower(n[0]), t})
	}
	return m
}()

// TypeOf returns the type of a header name, full or compact, compared
// case-insensitively; HdrOther when it is not a well-known one.
func TypeOf(name []byte) HdrType {
	if len(name) == 1 {
		c := name[0] | 0x20
		if c >= 'a' && c <= 'z' {
			return compactTypes[c-'a']
		}
		return HdrOther
	}
	if len(name) == 0 || len(name) >= len(byLen) {
		return HdrOther
	}
	c := lower(name[0])
	for _, e := range byLen[len(name)] {
		if e.first == c && equalFold(name, hdrNames[e.t].name) {
			return e.t
		}
	}
	return HdrOther
}

// equalFold compares ASCII case-insensitively; header names are tokens,
// so no Unicode folding is wanted (and none allocates).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if c != d && lower(c) != lower(d) {
			return false
		}
	}
	return true
}

// equalFoldBytes is equalFold for two byte slices.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
