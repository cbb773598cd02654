// Every npm script runs under the Node the project pins (the `node` devDependency puts it first on
// PATH inside npm scripts). Say so plainly when something else is running us.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major !== 24 || minor < 11) {
  console.error(
    `keiko: Node ${process.versions.node} is running this script, but the project pins Node 24 (>= 24.11).\n` +
      'Run it through npm (npm run <script>) after `npm ci`, which installs the pinned Node into node_modules/.bin.',
  );
  process.exit(1);
}
