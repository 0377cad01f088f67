/**
 * plan and apply of a fleet.yml as the deploy commands run them, each with fresh ports (a new Proxmox client per
 * call, closed afterwards, as each command invocation has its own).
 */
import { applyDeploy, deployPlan, type ApplyPorts } from '../../src/deploy/apply.js';
import { lxcSpecOf, type FleetFile } from '../../src/deploy/fleet-file.js';

export function deployRunner(ports: () => ApplyPorts) {
  return {
    plan: async (f: FleetFile) => {
      const p = ports();
      try {
        return (await deployPlan(f, lxcSpecOf(f), p)).plan;
      } finally {
        await p.pve.close();
      }
    },
    apply: async (f: FleetFile) => {
      const p = ports();
      try {
        return await applyDeploy(f, lxcSpecOf(f), p);
      } finally {
        await p.pve.close();
      }
    },
  };
}
