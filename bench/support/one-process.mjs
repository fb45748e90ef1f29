// rtinfer's CLI with its server in this one process (RTINFER_V8_FLAGS=off: no child node with heap
// flags, V8's default heap): bench/serve's --second-cli for an A/B of src/cli/relaunch.ts.
process.env.RTINFER_V8_FLAGS = 'off';
await import('../../dist/cli/main.js');
