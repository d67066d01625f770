package packaging

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the code blocks after depprobe:file markers from the files they name")

// fileMarker introduces a code block that must equal a file of the repository, or lines
// A-B of it, with their common indentation removed:
//
//	<!-- depprobe:file examples/compose/wait.yaml lines=3-20 -->
//	```yaml
//	...
//	```
var fileMarker = regexp.MustCompile("(?m)^<!-- depprobe:file (\\S+)(?: lines=(\\d+)-(\\d+))? -->\n(```[a-z]*\n)((?s:.*?))```\n")

// TestReadmeSnippets checks that every code block of the README that
// follows a depprobe:file marker shows the file it names as it is, so the docs cannot drift
// from the examples the other tests validate. With -update it rewrites the blocks instead.
func TestReadmeSnippets(t *testing.T) {
	docs := []struct {
		path       string
		minMarkers int // a README without its blocks would prove nothing
	}{
		{filepath.Join(repoRoot, "README.md"), 8},
	}
	for _, doc := range docs {
		t.Run(filepath.Base(doc.path), func(t *testing.T) {
			data, err := os.ReadFile(doc.path)
			if os.IsNotExist(err) && doc.minMarkers == 0 && !inCI() {
				t.Skipf("%s does not exist yet", doc.path)
			}
			if err != nil {
				t.Fatal(err)
			}
			var n int
			out := fileMarker.ReplaceAllStringFunc(string(data), func(block string) string {
				n++
				m := fileMarker.FindStringSubmatch(block)
				want, err := excerpt(m[1], m[2], m[3])
				if err != nil {
					t.Errorf("%s: %v", doc.path, err)
					return block
				}
				if got := m[5]; got != want && !*update {
					t.Errorf("%s: the block after the marker for %s lines %s-%s differs from the file (go test -run TestReadmeSnippets -update rewrites it):\n--- got\n%s--- want\n%s", doc.path, m[1], m[2], m[3], got, want)
				}
				return strings.Replace(block, m[4]+m[5], m[4]+want, 1)
			})
			if n < doc.minMarkers {
				t.Errorf("%s has %d depprobe:file markers, want at least %d", doc.path, n, doc.minMarkers)
			}
			if *update && out != string(data) {
				if err := os.WriteFile(doc.path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", doc.path)
			}
		})
	}
}

// excerpt returns lines from-to (1-based, inclusive; all when empty) of a file of the
// repository, with their common leading indentation removed.
func excerpt(path, from, to string) (string, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(path)))
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if from != "" {
		a, _ := strconv.Atoi(from)
		b, _ := strconv.Atoi(to)
		if a < 1 || b < a || b > len(lines) {
			return "", fmt.Errorf("%s has %d lines, cannot show %d-%d", path, len(lines), a, b)
		}
		lines = lines[a-1 : b]
	}
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
			indent = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if len(l) >= indent && strings.TrimSpace(l[:max(indent, 0)]) == "" {
			l = l[max(indent, 0):]
		} else {
			l = strings.TrimLeft(l, " ")
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		b.WriteString(l)
	}
	return b.String(), nil
}
