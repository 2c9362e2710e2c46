// Copies stdin to stdout: a check that the harness can run node scripts.
process.stdin.pipe(process.stdout)
