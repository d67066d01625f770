// Package docs holds no code: its test keeps the documentation true. It
// checks README.md, CONTRIBUTING.md and docs/*.md: every block after an
// include marker equals the file it names (go test ./internal/docs -update
// rewrites the blocks), every relative link and anchor resolves, the README
// stays a front page (at most 20,000 bytes), and user documentation holds no
// internal wording.
//
// The marker, on a line of its own:
//
//	<!-- include: PATH -->              the fenced code block on the next line is PATH
//	<!-- include: PATH lines=A-B -->    … is lines A to B of PATH, common indentation removed
//
// PATH is relative to the repository's root. A PATH ending in .md is
// markdown (a generated table): the lines up to <!-- end include --> are its
// content, without a code fence. Output that the docs show is included from
// the golden file of the test that produces it (cmd/depprobe/testdata,
// faults/table.md, bench/results.md), so an example can only show what the
// program prints.
package docs
