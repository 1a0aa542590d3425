# One row of compare.sh's table from two of the harness's RESULT lines:
#   awk -v name=ROW -v k="KEMI RESULT" -v m="KAMAILIO RESULT" -f row.awk
# CPU is % of one core over the UAC's run; µs/call is that CPU time per
# call at the rate sipp achieved; PSS is the peak, summed over the proxy's
# processes. A ratio is kemi's figure over Kamailio's: below 1 kemi uses less.
function parse(line, r,    n, i, f, kv) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++) {
		if (index(f[i], "=") == 0) continue
		kv = index(f[i], "=")
		r[substr(f[i], 1, kv - 1)] = substr(f[i], kv + 1)
	}
	sub(/%$/, "", r["proxy_cpu"]); sub(/MB$/, "", r["proxy_pss"])
	r["rate"] += 0
	r["us"] = ""
	if (r["achieved"] + 0 > 0) r["us"] = r["proxy_cpu"] * 10000 / r["achieved"]
	else if (r["rate"] > 0) r["us"] = r["proxy_cpu"] * 10000 / r["rate"]
	return line != ""
}
function num(v, fmt) { return v == "" ? "–" : sprintf(fmt, v) }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "–" : sprintf("%.2f×", a / b) }
function state(r, who) {
	if (!("verdict" in r)) return who " no result"
	if (r["noisy"] == "yes") return who " noisy"
	if (r["verdict"] != "CLEAN") return who " dirty"
	return ""
}
BEGIN {
	hk = parse(k, K); hm = parse(m, M)
	note = state(K, "kemi"); n2 = state(M, "Kamailio")
	note = note (note != "" && n2 != "" ? ", " : "") n2
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", name,
		(hk ? K["proxy_cpu"] " %" : "–"), num(K["us"], "%.1f"),
		(hm ? M["proxy_cpu"] " %" : "–"), num(M["us"], "%.1f"),
		ratio(K["us"], M["us"]),
		(hk ? K["proxy_pss"] " MB" : "–"), (hm ? M["proxy_pss"] " MB" : "–"),
		ratio(K["proxy_pss"], M["proxy_pss"]),
		(hk ? K["failed"] : "–"), (hm ? M["failed"] : "–"),
		(note == "" ? "–" : note)
}
