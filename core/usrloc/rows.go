package usrloc

import (
	"database/sql"
	"math"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// How Kamailio 5.6 (usrloc db_mode 1 over db_sqlite) writes a location
// row, as seen with sqlite3 on a file it wrote (testdata/kamailio-5.6-location.sql):
//
//   - expires and last_modified are REAL Julian day numbers in UTC
//     (2461380.7448784722946), not text, in whole seconds less half a
//     second (Kamailio showed that row's 04:52:37.5 as 04:52:38); a
//     permanent binding has the Julian day of the Unix epoch
//     (2440587.49999421: time 0 less half a second). Kamailio reads a text timestamp wrongly (it showed
//     "expired" and a negative last_modified), so kemi writes REAL only;
//     it reads text (local time, db.TimeLayout) and integers (Unix
//     seconds) too, for files written by other tools.
//   - q is REAL: 0.5, 1.0, and -1.0 for a contact without q.
//   - received, path, socket, instance and methods are NULL when unset; a
//     NULL methods reads as -1 (unknown).
//   - connection_id is -1 for a binding without a TCP connection.
//   - domain is the AOR's domain with use_domain, NULL without.

// julianEpoch is the Julian day number of the Unix epoch.
const julianEpoch = 2440587.5

// toJulian returns t, in whole seconds as Kamailio keeps times, as
// Kamailio's db_sqlite stores a time; the zero time (a permanent binding)
// is the epoch.
func toJulian(t time.Time) float64 {
	if t.IsZero() {
		return julianEpoch
	}
	return float64(t.Unix())/86400 + julianEpoch
}

// fromJulian is the inverse of toJulian: a time at or before the epoch is
// the zero time. Kamailio writes second t as t-0.5 s (plus rounding
// noise) and reads it back rounding up; kemi writes t itself. Adding
// 0.501 s and truncating gives t for both.
func fromJulian(jd float64) time.Time {
	sec := math.Floor((jd-julianEpoch)*86400 + 0.501)
	if sec <= 0 || math.IsNaN(sec) {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}

// julianCol is a column read as a Julian day whatever type it holds: text
// is local time (SQLite's 'utc' modifier converts from it), an integer
// Unix seconds.
func julianCol(col string) string {
	return "CASE typeof(" + col + ") WHEN 'real' THEN " + col +
		" WHEN 'integer' THEN " + col + "/86400.0+2440587.5" +
		" WHEN 'text' THEN julianday(" + col + ",'utc') ELSE 0 END"
}

// selectColumns are the columns rowBinding reads, in its order.
var selectColumns = strings.Join([]string{
	"ruid", "username", "domain", "contact", "received", "path",
	julianCol("expires"), "q", "callid", "cseq", julianCol("last_modified"),
	"flags", "cflags", "user_agent", "socket", "methods", "instance",
	"reg_id", "server_id", "connection_id", "keepalive",
}, ", ")

// insertColumns are the columns a write sets, in bindingArgs' order.
const insertColumns = "ruid, username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, instance, reg_id, server_id, connection_id, keepalive"

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// rowBinding reads one row of selectColumns.
func rowBinding(r scanner, useDomain bool) (kemi.Binding, error) {
	var (
		b                                              kemi.Binding
		user                                           string
		domain, received, path, socket, instance       sql.NullString
		expires, lastMod, q                            sql.NullFloat64
		methods                                        sql.NullInt64
		cseq, flags, cflags, regID, serverID, keepAlve int64
		connID                                         int64
	)
	err := r.Scan(&b.RUID, &user, &domain, &b.Contact, &received, &path,
		&expires, &q, &b.CallID, &cseq, &lastMod, &flags, &cflags, &b.UserAgent,
		&socket, &methods, &instance, &regID, &serverID, &connID, &keepAlve)
	if err != nil {
		return b, err
	}
	b.AOR = joinAOR(user, domain.String, useDomain)
	b.Received, b.Path, b.Socket, b.Instance = received.String, path.String, socket.String, instance.String
	b.Expires, b.LastModified = fromJulian(expires.Float64), fromJulian(lastMod.Float64)
	b.Q = -1
	if q.Valid && q.Float64 >= 0 {
		b.Q = int(math.Round(q.Float64 * 1000))
	}
	b.Methods = -1
	if methods.Valid {
		b.Methods = int(int32(methods.Int64)) // 4294967295 written by some tools is -1
	}
	b.CSeq, b.Flags, b.CFlags = int(cseq), uint32(flags), uint32(cflags)
	b.RegID, b.ServerID, b.KeepAlive = int(regID), int(serverID), int(keepAlve)
	if connID > 0 {
		b.ConnID = connID
	}
	return b, nil
}

// bindingArgs returns the values of insertColumns for b, written the way
// Kamailio writes them.
func bindingArgs(b *kemi.Binding, useDomain bool) []any {
	user, domain := splitAOR(b.AOR, useDomain)
	q := -1.0
	if b.Q >= 0 {
		q = float64(b.Q) / 1000
	}
	var methods any
	if b.Methods >= 0 {
		methods = int64(b.Methods)
	}
	connID := b.ConnID
	if connID <= 0 {
		connID = -1
	}
	var dom any
	if useDomain {
		dom = domain
	}
	return []any{b.RUID, user, dom, b.Contact, nullable(b.Received), nullable(b.Path),
		toJulian(b.Expires), q, b.CallID, b.CSeq, toJulian(b.LastModified),
		int64(b.Flags), int64(b.CFlags), b.UserAgent, nullable(b.Socket), methods,
		nullable(b.Instance), b.RegID, b.ServerID, connID, b.KeepAlive}
}

// nullable is NULL for "", as Kamailio leaves unset columns.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// columnNames are insertColumns one by one.
var columnNames = strings.Split(insertColumns, ", ")

// changedColumns returns the bit set of the columns (indexes in
// insertColumns) whose values differ between two bindingArgs results.
func changedColumns(old, cur []any) uint32 {
	var set uint32
	for i := range cur {
		if old[i] != cur[i] {
			set |= 1 << i
		}
	}
	return set
}
