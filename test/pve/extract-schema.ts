/**
 * Copies the part of the official Proxmox VE API schema (pve-docs `apidata.js`, as JSON) that fleetmon and the
 * simulator use into a small file the tests can read. The method entries are copied unchanged; only the tree is
 * pruned to the listed methods, so the validator sees exactly what the real server checks.
 *
 *   node --import tsx test/pve/extract-schema.ts SOURCE.json OUTPUT.json
 *   node --import tsx test/pve/extract-schema.ts PATH/TO/apidata.json test/pve/schema/apidata-9.1.subset.json
 *   node --import tsx test/pve/extract-schema.ts PATH/TO/apidata-pve8.json test/pve/schema/apidata-8.4.subset.json
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Every method fleetmon calls or the simulator serves; keep in sync with src/lxc/proxmox/client.ts. */
export const SUBSET_METHODS = [
  'GET /version',
  'GET /nodes',
  'GET /cluster/nextid',
  'GET /cluster/resources',
  'GET /access/permissions',
  'GET /pools',
  'GET /nodes/{node}/storage',
  'GET /nodes/{node}/storage/{storage}/content',
  'GET /nodes/{node}/network',
  'GET /nodes/{node}/aplinfo',
  'POST /nodes/{node}/aplinfo',
  'GET /nodes/{node}/lxc',
  'POST /nodes/{node}/lxc',
  'DELETE /nodes/{node}/lxc/{vmid}',
  'GET /nodes/{node}/lxc/{vmid}/config',
  'PUT /nodes/{node}/lxc/{vmid}/config',
  'PUT /nodes/{node}/lxc/{vmid}/resize',
  'GET /nodes/{node}/lxc/{vmid}/status/current',
  'POST /nodes/{node}/lxc/{vmid}/status/start',
  'POST /nodes/{node}/lxc/{vmid}/status/stop',
  'GET /nodes/{node}/lxc/{vmid}/interfaces',
  'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces',
  'GET /nodes/{node}/tasks/{upid}/status',
  'GET /nodes/{node}/tasks/{upid}/log',
] as const;

interface TreeNode {
  path: string;
  text: string;
  leaf: number;
  info?: Record<string, unknown>;
  children?: TreeNode[];
}

function prune(nodes: TreeNode[], wanted: Set<string>, found: Set<string>): TreeNode[] {
  const out: TreeNode[] = [];
  for (const node of nodes) {
    const info: Record<string, unknown> = {};
    for (const [method, entry] of Object.entries(node.info ?? {})) {
      const key = `${method} ${node.path}`;
      if (wanted.has(key)) {
        info[method] = entry;
        found.add(key);
      }
    }
    const children = prune(node.children ?? [], wanted, found);
    if (Object.keys(info).length === 0 && children.length === 0) continue;
    const copy: TreeNode = { path: node.path, text: node.text, leaf: children.length ? 0 : 1 };
    if (Object.keys(info).length) copy.info = info;
    if (children.length) copy.children = children;
    out.push(copy);
  }
  return out;
}

function main(argv: string[]): void {
  const [source, output] = argv;
  if (!source || !output) {
    console.error('usage: extract-schema.ts SOURCE.json OUTPUT.json');
    process.exit(2);
  }
  const raw = readFileSync(source);
  const tree = JSON.parse(raw.toString('utf8')) as TreeNode[];
  const wanted = new Set<string>(SUBSET_METHODS);
  const found = new Set<string>();
  const schema = prune(tree, wanted, found);
  const missing = [...wanted].filter((m) => !found.has(m));
  if (missing.length) {
    console.error(`${source} lacks: ${missing.join(', ')}`);
    process.exit(1);
  }
  const doc = {
    generatedBy: 'test/pve/extract-schema.ts',
    source: basename(source),
    sourceSha256: createHash('sha256').update(raw).digest('hex'),
    methods: [...SUBSET_METHODS],
    schema,
  };
  writeFileSync(output, `${JSON.stringify(doc, null, 1)}\n`);
  console.log(`${output}: ${found.size} methods`);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main(process.argv.slice(2));
