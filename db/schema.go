package db

// Table is one of Kamailio's tables: its name, the version Kamailio's
// version table records for it, and the statements that create it.
type Table struct {
	Name    string
	Version int
	Create  []string
}

// versionTable is Kamailio's version table: one row per table, its
// schema version.
var versionTable = Table{Name: "version", Version: 1, Create: []string{`CREATE TABLE version (
    id INTEGER PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
)`}}

// Location is usrloc's table (Kamailio 5.x, version 9). Kamailio 5.6.3's
// db_sqlite writes expires and last_modified as REAL Julian day numbers in
// UTC (julianday(), whatever TZ it runs in); the schema's defaults are
// text in TimeLayout. A reader of a file Kamailio wrote must take both.
var Location = Table{Name: "location", Version: 9, Create: []string{`CREATE TABLE location (
    id INTEGER PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    partition INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
)`,
	`CREATE INDEX location_account_contact_idx ON location (username, domain, contact)`,
	`CREATE INDEX location_expires_idx ON location (expires)`,
	`CREATE INDEX location_tcpcon_idx ON location (connection_id)`,
	`CREATE INDEX location_connection_idx ON location (server_id, connection_id)`,
}}

// Subscriber is auth_db's table (Kamailio 5.x, version 7).
var Subscriber = Table{Name: "subscriber", Version: 7, Create: []string{`CREATE TABLE subscriber (
    id INTEGER PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
)`,
	`CREATE INDEX subscriber_username_idx ON subscriber (username)`,
}}

// TimeLayout is the text form of a TIMESTAMP in Kamailio's SQLite schema
// (its column defaults); Kamailio 5.6.3's db_sqlite itself writes Julian
// day numbers (see Location).
const TimeLayout = "2006-01-02 15:04:05"

// Address is permissions' address table (Kamailio 5.x, version 6): the
// groups of addresses allow_source_address and friends check. ip_addr is
// an IP address (with mask a subnet) or a domain name.
var Address = Table{Name: "address", Version: 6, Create: []string{`CREATE TABLE address (
    id INTEGER PRIMARY KEY NOT NULL,
    grp INTEGER DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INTEGER DEFAULT 32 NOT NULL,
    port SMALLINT DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
)`}}

// Trusted is permissions' trusted table (Kamailio 5.x, version 6): the
// peers allow_trusted accepts, by source address, protocol and patterns.
var Trusted = Table{Name: "trusted", Version: 6, Create: []string{`CREATE TABLE trusted (
    id INTEGER PRIMARY KEY NOT NULL,
    src_ip VARCHAR(50) NOT NULL,
    proto VARCHAR(4) NOT NULL,
    from_pattern VARCHAR(64) DEFAULT NULL,
    ruri_pattern VARCHAR(64) DEFAULT NULL,
    tag VARCHAR(64),
    priority INTEGER DEFAULT 0 NOT NULL
)`,
	`CREATE INDEX trusted_peer_idx ON trusted (src_ip)`,
}}

// HTable is htable's table (Kamailio 5.x, version 2): the items of the
// hash tables whose definition names it with dbtable. key_type 1 makes
// the rows of one key_name an array; value_type 1 is an integer value
// (key_value holds its text), 0 a string; expires is unix seconds, 0
// for never.
var HTable = Table{Name: "htable", Version: 2, Create: []string{`CREATE TABLE htable (
    id INTEGER PRIMARY KEY NOT NULL,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL
)`}}
