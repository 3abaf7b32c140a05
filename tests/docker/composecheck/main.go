// composecheck: the static half of `docker compose`, for machines without a Docker engine.
//
//	composecheck config <compose file>   the project as compose-go loads it (schema validation,
//	                                     interpolation, consistency checks), as JSON on stdout
//	composecheck context <dir>           the files a build with context <dir> sends to the engine
//	                                     (<dir>/.dockerignore applied as BuildKit does), one per line
package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: composecheck config <compose file> | context <dir>"))
	}
	switch os.Args[1] {
	case "config":
		fail(config(os.Args[2]))
	case "context":
		fail(buildContext(os.Args[2]))
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func config(file string) error {
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithOsEnv, cli.WithDotEnv,
		cli.WithInterpolation(true), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

func buildContext(dir string) error {
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if excluded {
			// An excluded directory is still walked when a later "!" pattern may re-include part of it.
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			fmt.Println(filepath.ToSlash(rel))
		}
		return nil
	})
}
