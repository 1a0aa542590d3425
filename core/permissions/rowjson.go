package permissions

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// addressJSON is an address row as Redis holds it: Kamailio's column
// names, null for NULL; a column left out takes the schema's default.
type addressJSON struct {
	ID     int64   `json:"id,omitempty"`
	Grp    *int64  `json:"grp"`
	IPAddr *string `json:"ip_addr"`
	Mask   *int64  `json:"mask"`
	Port   *int64  `json:"port"`
	Tag    *string `json:"tag"`
}

// trustedJSON is a trusted row as Redis holds it, as addressJSON.
type trustedJSON struct {
	ID          int64   `json:"id,omitempty"`
	SrcIP       *string `json:"src_ip"`
	Proto       *string `json:"proto"`
	FromPattern *string `json:"from_pattern"`
	RURIPattern *string `json:"ruri_pattern"`
	Tag         *string `json:"tag"`
	Priority    *int64  `json:"priority"`
}

// MarshalJSON writes the row with Kamailio's column names: the value of
// its Redis hash field (see RedisAddressKey).
func (r AddressRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(addressJSON{ID: r.ID, Grp: &r.Grp, IPAddr: &r.IP, Mask: &r.Mask, Port: &r.Port, Tag: r.Tag})
}

// UnmarshalJSON reads a row as MarshalJSON writes it. As an SQL insert,
// a column left out takes its default (grp 1, mask 32, port 0, tag NULL)
// and ip_addr must be given; null in a NOT NULL column, an unknown column
// or a value of the wrong type is an error.
func (r *AddressRow) UnmarshalJSON(b []byte) error {
	grp, mask, port := int64(1), int64(32), int64(0)
	v := addressJSON{Grp: &grp, Mask: &mask, Port: &port}
	if err := decodeStrict(b, &v); err != nil {
		return err
	}
	if v.Grp == nil || v.IPAddr == nil || v.Mask == nil || v.Port == nil {
		return fmt.Errorf("grp, ip_addr, mask and port must not be NULL")
	}
	*r = AddressRow{ID: v.ID, Grp: *v.Grp, IP: *v.IPAddr, Mask: *v.Mask, Port: *v.Port, Tag: v.Tag}
	return nil
}

// MarshalJSON writes the row with Kamailio's column names: the value of
// its Redis hash field (see RedisTrustedKey).
func (r TrustedRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(trustedJSON{ID: r.ID, SrcIP: &r.SrcIP, Proto: &r.Proto,
		FromPattern: r.FromPattern, RURIPattern: r.RURIPattern, Tag: r.Tag, Priority: &r.Priority})
}

// UnmarshalJSON reads a row as MarshalJSON writes it: src_ip and proto
// must be given, priority defaults to 0, the others to NULL.
func (r *TrustedRow) UnmarshalJSON(b []byte) error {
	prio := int64(0)
	v := trustedJSON{Priority: &prio}
	if err := decodeStrict(b, &v); err != nil {
		return err
	}
	if v.SrcIP == nil || v.Proto == nil || v.Priority == nil {
		return fmt.Errorf("src_ip, proto and priority must not be NULL")
	}
	*r = TrustedRow{ID: v.ID, SrcIP: *v.SrcIP, Proto: *v.Proto, FromPattern: v.FromPattern,
		RURIPattern: v.RURIPattern, Tag: v.Tag, Priority: *v.Priority}
	return nil
}

// decodeStrict decodes a JSON object into v, refusing columns v does not
// have: a misspelt column would otherwise silently take its default.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
