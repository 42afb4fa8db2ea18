import type { Agent } from '../api.ts';
import { ago, percent } from '../format.ts';

export function AgentList({ agents, onOpen }: { agents: Agent[]; onOpen(id: string): void }) {
  if (agents.length === 0) {
    return (
      <p className="empty">
        No agents yet. Start one with <code>falconet-agent run --server 127.0.0.1:7071</code>.
      </p>
    );
  }
  return (
    <table className="agents">
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Host</th>
          <th scope="col">OS</th>
          <th scope="col">CPU</th>
          <th scope="col">Memory</th>
          <th scope="col">Disk</th>
          <th scope="col">Last seen</th>
        </tr>
      </thead>
      <tbody>
        {agents.map((a) => (
          <tr key={a.id} data-testid="agent-row" data-agent-id={a.id} data-status={a.status}>
            <td>
              <span className={`status ${a.status}`}>{a.status}</span>
            </td>
            <td>
              <a
                href={`/agents/${encodeURIComponent(a.id)}`}
                onClick={(e) => {
                  e.preventDefault();
                  onOpen(a.id);
                }}
              >
                {a.hostname}
              </a>
              <div className="sub">{a.primaryIp}</div>
            </td>
            <td>{a.os}</td>
            <td data-testid="cpu">{percent(a.summary.falconet_cpu_usage_percent)}</td>
            <td>{percent(a.summary.falconet_memory_used_percent)}</td>
            <td>{percent(a.summary.falconet_disk_used_percent)}</td>
            <td>{ago(a.lastSeenMs)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
