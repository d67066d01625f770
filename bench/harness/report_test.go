package main

import "testing"

// wrk 4.1.0's output for a server that answered every request with 404.
const wrkOutput = `Running 1s test @ http://127.0.0.1:28431/nonexistent
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.72ms    4.56ms  28.45ms   89.22%
    Req/Sec     1.58k   643.91     2.83k    70.00%
  Latency Distribution
     50%  675.00us
     75%    2.75ms
     90%    7.89ms
     99%   22.07ms
  1580 requests in 1.02s, 802.52KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 1580
Requests/sec:   1556.23
Transfer/sec:    790.45KB
`

func TestParseWrk(t *testing.T) {
	got := parseWrk(wrkOutput)
	want := wrkResult{rps: 1556.23, p50: 0.675, p99: 22.07, requests: 1580, errors: 3, non2xx: 1580}
	if got != want {
		t.Errorf("parseWrk = %+v, want %+v", got, want)
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		name  string
		xs    []float64
		fails int
		unit  string
		want  string
	}{
		{"none", nil, 2, "ms", "no run succeeded, 2 failed"},
		{"one", []float64{6.049}, 0, "s", "6.05 s"},
		{"odd", []float64{3, 250, 12.34}, 0, "ms", "12.3 ms (3.00–250)"},
		{"even: the mean of the middle two", []float64{1, 2, 4, 8}, 1, "MB", "3.00 MB (1.00–8.00), 1 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cell(tc.xs, tc.fails, tc.unit); got != tc.want {
				t.Errorf("cell = %q, want %q", got, tc.want)
			}
		})
	}
}
