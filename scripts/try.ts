/**
 * `npm run try -- --config broker.yaml --project name …`: a dry run of your own broker config and
 * workflow inputs on loopback (src/local/try/run.ts); `--help` lists the flags.
 */
import { parseTryArgs, USAGE, UsageError } from '../src/local/try/args.js';
import { EXIT_FAILED, runTry } from '../src/local/try/run.js';

async function main(): Promise<number> {
  try {
    // npm runs scripts from the package folder; INIT_CWD is where the user typed the command.
    const cwd = process.env.INIT_CWD ?? process.cwd();
    const args = parseTryArgs(process.argv.slice(2), cwd);
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    return await runTry(args, {
      log: (line) => console.log(line),
      isTTY: process.stdout.isTTY,
      env: process.env,
    });
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`npm run try: ${error.message}\n\n${USAGE}`);
      return EXIT_FAILED;
    }
    console.error(`npm run try: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  }
}

process.exitCode = await main();
