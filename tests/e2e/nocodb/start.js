// tests/e2e/nocodb/start.js PORT: NocoDB (from the npm package found by
// NODE_PATH) headless on 127.0.0.1:PORT; configured by the environment
// (NC_DB or NC_TOOL_DIR, NC_AUTH_JWT_SECRET, NC_DISABLE_TELE).
const express = require('express');
const http = require('http');
const { Noco } = require('nocodb');

(async () => {
	const app = express();
	const server = http.createServer(app);
	app.use(await Noco.init({}, server, app));
	server.listen(Number(process.argv[2]), '127.0.0.1');
})().catch((e) => {
	console.error(e);
	process.exit(1);
});
