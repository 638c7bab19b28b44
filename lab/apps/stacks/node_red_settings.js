// Node-RED settings for the wsfp lab (copied into the userDir by node_red.sh). Env: WSFP_RED_PORT, WSFP_RED_MODE.
//   MODE echo (default): editor and admin API on /, HTTP nodes on /, the echo flow's websocket listener on /ws/echo
//   MODE noeditor: disableEditor, httpAdminRoot false, httpNodeRoot /red (so the listener answers on /red/ws/echo)
// Bound to 127.0.0.1; telemetry, diagnostics, update checks and module auto-install off (no network).
const mode = process.env.WSFP_RED_MODE || 'echo';
const s = {
  uiHost: '127.0.0.1',
  uiPort: +process.env.WSFP_RED_PORT,
  flowFile: 'flows.json',
  credentialSecret: false,
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  editorTheme: { projects: { enabled: false }, palette: { catalogues: [] }, tours: false },
  functionExternalModules: false,
};
if (mode === 'noeditor') { s.disableEditor = true; s.httpAdminRoot = false; s.httpNodeRoot = '/red'; }
module.exports = s;
