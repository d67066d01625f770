package probe

import (
	"testing"
	"time"
)

// TestOnGrid: a wait of 160 ms or more ends on the grid of steps
// 10 ms × 2^k (the largest not above a sixteenth of it) from epoch, and
// grows by less than one step; a shorter one is left alone.
func TestOnGrid(t *testing.T) {
	ms := time.Millisecond
	origin := epoch()
	for _, tc := range []struct {
		now, wait, want, step time.Duration // now: since epoch
	}{
		{now: 3 * ms, wait: 100 * ms, want: 100 * ms},                // too short to round
		{now: 0, wait: 160 * ms, want: 160 * ms, step: 10 * ms},      // on the grid already
		{now: 3 * ms, wait: 160 * ms, want: 167 * ms, step: 10 * ms}, // ends at 170
		{now: 1234 * ms, wait: 880 * ms, want: 886 * ms, step: 40 * ms},
		{now: 5 * time.Second, wait: 5500 * ms, want: 5560 * ms, step: 320 * ms},
		{now: 5 * time.Second, wait: 4500 * ms, want: 4600 * ms, step: 160 * ms},
	} {
		got := onGrid(origin.Add(tc.now), tc.wait)
		if got != tc.want {
			t.Errorf("onGrid(epoch+%s, %s) = %s, want %s", tc.now, tc.wait, got, tc.want)
		}
		if tc.step > 0 && ((tc.now+got)%tc.step != 0 || got-tc.wait >= tc.step) {
			t.Errorf("onGrid(epoch+%s, %s) = %s: ends off the %s grid, or grew by a step or more", tc.now, tc.wait, got, tc.step)
		}
	}
}
