// `kubectl attach`, and `kubectl run -i/-it` which attaches (pods/attach),
// served by the embedded cluster: kube-apiserver's checks (AttachLocation:
// the pod, the container, a node), then the WebSocket channel protocol of
// exec (cluster/exec.ts serves both), connected to the container's main
// process by the node agent that runs it (node/attach.ts).
//
// What differs from exec, as kubelet does it: no command; kubelet's own
// refusal when the container does not run (`container c not found in pod
// p_ns`); the Status at the end is Success however the container ended
// (`kubectl run` reads the exit code from the pod's status afterwards).
import type { Status } from 'kubernetes-types/meta/v1.js';
import type { ApiServer } from '../apiserver/server.js';
import { findAttachTarget, startAttach, validateAttachRequest, type AttachTarget } from '../node/attach.js';
import { internalErrorStatus, type ExecError } from '../node/exec.js';
import { execErrorStatus, serveChannelSubresource, type ChannelSubresource } from './exec.js';

/** The error-channel Status for an attach that could not start: as for exec, with kubelet's ServeAttach words. */
export function attachErrorStatus(e: ExecError): Status {
  if (e.stage === 'start') return internalErrorStatus(`Internal error occurred: error attaching to container: ${e.message}`);
  return execErrorStatus(e);
}

export const attachSubresource: ChannelSubresource<AttachTarget> = {
  name: 'attach',
  validate: validateAttachRequest,
  target: async (loc, o) => findAttachTarget(loc.namespace, loc.pod, loc.uid, loc.nodeName, loc.container, o.stdin),
  start: async (t, o, size) => startAttach(t, { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, size }),
  // ServeAttach writes Success once the attach ends, whatever the container's exit code.
  final: () => ({ metadata: {}, status: 'Success' }),
  errorStatus: attachErrorStatus,
};

export function servePodAttach(api: ApiServer): void {
  serveChannelSubresource(api, attachSubresource);
}
