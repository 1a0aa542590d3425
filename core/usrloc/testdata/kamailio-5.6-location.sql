-- Rows written by Kamailio 5.6.3 (usrloc db_mode=1, use_domain=1, db_sqlite,
-- registrar save("location")), TZ=Europe/Berlin, on a file made with
-- /usr/share/kamailio/db_sqlite/{standard,usrloc}-create.sql, dumped with
-- sqlite3 ".mode insert location". alice and bob registered with sipp
-- (alice: q=0.5, +sip.instance, reg-id=1, Allow, User-Agent; bob: no q, no
-- Allow, no User-Agent); carol was added with `kamcmd ul.add location
-- carol@example.com sip:carol@192.0.2.9:5060 0 1.0 . 0 0 0` (expires 0:
-- permanent), dave with expires 120 and q 0.25. Kamailio 5.6 showed these
-- rows back with `kamcmd ul.dump` after a restart; a row with text
-- timestamps ('2026-12-06 06:00:00') it showed as "expired" with a
-- negative Last-Modified.
-- The other way round: kemi's usrloc SQLite store saved two bindings of
-- kemiuser@example.com into that file (one expiring in 900 s with q 0.7,
-- Allow mask 527, received, path, instance, reg-id 2; one permanent without
-- q or methods); Kamailio 5.6.3 restarted on it and `kamcmd ul.lookup
-- location kemiuser@example.com` showed Expires 898, Q 0.700000, Methods
-- 527, Tcpconn-Id -1, and "Expires: permanent", Q -1, Methods -1.
INSERT INTO location VALUES(1,'uloc-6b14ea0d-1c1c-1','alice','example.com','sip:alice@127.0.0.1:35070;transport=udp',NULL,NULL,2461380.7448784722946,0.5,'1-7336@127.0.0.1',7,2461380.7032118057832,0,0,'sipp-test/1.0','udp:127.0.0.1:35060',527,'<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',1,0,-1,0,0);
INSERT INTO location VALUES(2,'uloc-6b14ea0d-1c1c-2','bob','example.com','sip:bob@127.0.0.1:35070',NULL,NULL,2461380.7101562498137,-1.0,'bob-1-7336@127.0.0.1',1,2461380.7032118057832,0,0,'n/a','udp:127.0.0.1:35060',NULL,NULL,0,0,-1,0,0);
INSERT INTO location VALUES(3,'ulcx-6b14ea0d-1c20-1','carol','example.com','sip:carol@192.0.2.9:5060',NULL,NULL,2440587.4999942127614,1.0,'dfjrewr12386fd6-343@kamailio.rpc',1,2440587.4999942127614,0,0,'kamailio SIP Router - RPC Server',NULL,0,NULL,0,0,-1,0,0);
INSERT INTO location VALUES(4,'ulcx-6b14ea0d-1c20-2','dave','example.com','sip:dave@192.0.2.10',NULL,NULL,2461380.7047974537126,0.25,'dfjrewr12386fd6-343@kamailio.rpc',1,2440587.4999942127614,0,0,'kamailio SIP Router - RPC Server',NULL,0,NULL,0,0,-1,0,0);
