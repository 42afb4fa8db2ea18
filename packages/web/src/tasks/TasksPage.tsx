import type {
  RunStatus,
  Task,
  TaskAgentHealth,
  TaskAgents,
  TaskAuditEntry,
  TaskLiveMessage,
  TaskOutput,
  TaskRun,
} from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { fetchAgents } from '../api.ts';
import { dateTime, type Lang, type Translate, useI18n, word } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { RecordsTable } from '../RecordsTable.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { type AgentChoice, AgentPicker, targetOf } from './AgentPicker.tsx';
import { commandLine, createTask, fetchAudit, fetchHealth, fetchOutput, fetchTask, fetchTasks, taskAction } from './api.ts';
import './tasks.css';

const time = (lang: Lang, ms: number | null | undefined) => dateTime(lang, ms);
const statusText = (t: Translate, s: string) => word(t, 'tasks.status', s);

/** The Tasks page: run a command or schedule a job, follow its output live, read the audit log. */
export function TasksPage({ path, go, live }: { path: string; go(path: string): void; live: LiveConnection }) {
  const m = /^\/tasks\/([^/]+)$/.exec(path);
  return (
    <section className="tasks">
      {m ? <TaskDetail id={decodeURIComponent(m[1] as string)} live={live} go={go} /> : <TaskIndex live={live} go={go} />}
    </section>
  );
}

/** Run outcomes that did not succeed: each shown in its own colour, with its reason. */
const UNHAPPY: readonly RunStatus[] = ['failed', 'refused', 'timeout', 'undeliverable', 'interrupted', 'cancelled'];

function useHostnames(): (id: string) => string {
  const agents = useQuery({ queryKey: ['agents'], queryFn: fetchAgents, refetchInterval: 30_000 });
  return useCallback((id: string) => agents.data?.items.find((a) => a.id === id)?.hostname ?? id, [agents.data]);
}

function TaskIndex({ live, go }: { live: LiveConnection; go(path: string): void }) {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const tasks = useQuery({ queryKey: ['tasks'], queryFn: fetchTasks });
  const health = useQuery({ queryKey: ['tasks', 'health'], queryFn: fetchHealth });
  useEffect(
    () =>
      live.onTask((msg) => {
        if (msg.type === 'task') void client.invalidateQueries({ queryKey: ['tasks'], exact: true });
        if (msg.type === 'task_agent') {
          client.setQueryData<TaskAgents>(['tasks', 'health'], (old) =>
            old ? { ...old, items: [...old.items.filter((a) => a.agentId !== msg.agent.agentId), msg.agent] } : old,
          );
        }
      }),
    [live, client],
  );
  return (
    <>
      <h1>{t('tasks.title')}</h1>
      <NewTaskForm onCreated={(t) => go(`/tasks/${encodeURIComponent(t.id)}`)} />
      {health.data?.backend === 'etcd' ? <EtcdHealth agents={health.data.items} /> : null}
      <h2>{t('tasks.recent')}</h2>
      {tasks.error ? <p role="alert">{t('tasks.loadError', (tasks.error as Error).message)}</p> : null}
      <RecordsTable
        className="tasks-table"
        columns={['tasks.col.command', 'tasks.col.kind', 'tasks.col.agents', 'tasks.col.status', 'tasks.col.by', 'tasks.col.created']}
        items={tasks.data?.items ?? []}
        row={(task) => (
          <tr key={task.id} data-testid="task-row" data-task-id={task.id}>
            <td>
              <a
                href={`/tasks/${encodeURIComponent(task.id)}`}
                onClick={(e) => {
                  e.preventDefault();
                  go(`/tasks/${encodeURIComponent(task.id)}`);
                }}
              >
                <code>{commandLine(task)}</code>
              </a>
            </td>
            <td>
              {task.kind !== 'cron'
                ? t('tasks.kind.run')
                : task.timezone
                  ? t('tasks.kind.cronTz', task.schedule, task.timezone)
                  : t('tasks.kind.cron', task.schedule)}
            </td>
            <td>{task.agentIds.length}</td>
            <td>
              <span className={`task-status ${task.status}`}>{statusText(t, task.status)}</span>
            </td>
            <td>{task.createdBy}</td>
            <td>{time(lang, task.createdMs)}</td>
          </tr>
        )}
      />
      <AuditLog live={live} />
    </>
  );
}

function NewTaskForm({ onCreated }: { onCreated(t: Task): void }) {
  const { t } = useI18n();
  const [command, setCommand] = useState('');
  const [args, setArgs] = useState('');
  const agents = useQuery({ queryKey: ['agents'], queryFn: fetchAgents, refetchInterval: 30_000 });
  const [choice, setChoice] = useState<AgentChoice>({ agents: [], labels: {} });
  const [schedule, setSchedule] = useState('');
  const [timezone, setTimezone] = useState('');
  const [timeout, setTimeoutSec] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      const chosen = targetOf(agents.data?.items ?? [], choice);
      const { task } = await createTask({
        command: command.trim(),
        // One argument per line: nothing is split or quoted behind the user's back.
        args: args === '' ? [] : args.split('\n'),
        ...chosen,
        schedule: schedule.trim(),
        timezone: timezone.trim(),
        timeoutMs: timeout ? Math.round(Number(timeout) * 1000) : 0,
      });
      onCreated(task);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form-card task-form" onSubmit={submit} aria-label={t('tasks.form')}>
      <Field label={t('tasks.command')}>
        <input name="command" value={command} onChange={(e) => setCommand(e.target.value)} placeholder="/usr/bin/uptime" required />
      </Field>
      <Field label={t('tasks.args')}>
        <textarea name="args" rows={2} value={args} onChange={(e) => setArgs(e.target.value)} />
      </Field>
      <AgentPicker agents={agents.data?.items ?? []} value={choice} onChange={setChoice} />
      <div className="form-grid">
        <Field label={t('tasks.schedule')}>
          <input name="schedule" value={schedule} onChange={(e) => setSchedule(e.target.value)} placeholder="*/5 * * * *" />
        </Field>
        <Field label={t('tasks.timezone')}>
          <input name="timezone" value={timezone} onChange={(e) => setTimezone(e.target.value)} placeholder="Europe/Berlin" />
        </Field>
        <Field label={t('tasks.timeout')}>
          <input name="timeout" type="number" min="0" value={timeout} onChange={(e) => setTimeoutSec(e.target.value)} />
        </Field>
      </div>
      <FormMessage error={error || undefined} testid="task-error" />
      <div className="btn-row">
        <Button
          type="submit"
          variant="primary"
          busy={busy}
          disabled={choice.agents.length === 0 && Object.keys(choice.labels).length === 0}
        >
          {schedule.trim() ? t('tasks.scheduleButton') : t('tasks.run')}
        </Button>
      </div>
    </form>
  );
}

interface RunState {
  run: TaskRun;
  output: Map<number, TaskOutput>;
}

const runKey = (r: Pick<TaskRun, 'agentId' | 'runId'>) => `${r.agentId}/${r.runId}`;

function TaskDetail({ id, live, go }: { id: string; live: LiveConnection; go(path: string): void }) {
  const { t, lang } = useI18n();
  const hostname = useHostnames();
  const [task, setTask] = useState<Task | undefined>();
  const [runs, setRuns] = useState<Map<string, RunState>>(new Map());
  const [error, setError] = useState('');

  const patchRun = useCallback((key: string, f: (s: RunState | undefined) => RunState) => {
    setRuns((old) => {
      const next = new Map(old);
      next.set(key, f(old.get(key)));
      return next;
    });
  }, []);

  // Subscribe first, then read what is stored: a record in both is kept once, by its seq.
  const load = useCallback(async () => {
    try {
      const res = await fetchTask(id);
      setTask(res.task);
      for (const run of res.runs) {
        patchRun(runKey(run), (s) => ({
          run: s && s.run.status !== 'sent' && run.status === 'sent' ? s.run : run,
          output: s?.output ?? new Map(),
        }));
        if (run.outputBytes > 0 || run.endedMs) {
          const { output } = await fetchOutput(run);
          patchRun(runKey(run), (s) => {
            const merged = new Map(s?.output);
            for (const o of output) merged.set(o.seq, o);
            return { run: s?.run ?? run, output: merged };
          });
        }
      }
    } catch (err) {
      setError((err as Error).message);
    }
  }, [id, patchRun]);

  useEffect(() => {
    const unsubscribe = live.subscribeTask(id);
    const stop = live.onTask((msg: TaskLiveMessage) => {
      if (msg.type === 'task' && msg.task.id === id) setTask(msg.task);
      if (msg.type === 'task_run' && msg.run.taskId === id)
        patchRun(runKey(msg.run), (s) => ({ run: msg.run, output: s?.output ?? new Map() }));
      if (msg.type === 'task_output' && msg.taskId === id) {
        patchRun(runKey(msg), (s) => {
          const output = new Map(s?.output);
          output.set(msg.seq, { seq: msg.seq, stream: msg.stream, data: msg.data, timeMs: msg.timeMs });
          const run: TaskRun = s?.run ?? {
            taskId: id,
            agentId: msg.agentId,
            runId: msg.runId,
            scheduledMs: 0,
            status: 'running',
            exitCode: null,
            reason: '',
            message: '',
            startedMs: msg.timeMs,
            endedMs: null,
            outputBytes: 0,
          };
          return { run, output };
        });
      }
    });
    const reopened = live.onStatus((on) => {
      if (on) void load();
    });
    void load();
    return () => {
      unsubscribe();
      stop();
      reopened();
    };
  }, [id, live, load, patchRun]);

  const act = async (action: 'cancel' | 'pause' | 'resume' | 'delete') => {
    try {
      setTask((await taskAction(id, action)).task);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const ordered = [...runs.values()].sort((a, b) => b.run.startedMs - a.run.startedMs || (a.run.agentId < b.run.agentId ? -1 : 1));
  return (
    <>
      <p>
        <a
          href="/tasks"
          onClick={(e) => {
            e.preventDefault();
            go('/tasks');
          }}
        >
          {t('tasks.back')}
        </a>
      </p>
      {error ? <p role="alert">{error}</p> : null}
      {task ? (
        <>
          <h1>
            <code>{commandLine(task)}</code> <span className={`task-status ${task.status}`}>{statusText(t, task.status)}</span>
          </h1>
          <p className="sub">
            {task.kind !== 'cron'
              ? t('tasks.detail.run')
              : task.timezone
                ? t('tasks.detail.cronTz', task.schedule, task.timezone)
                : t('tasks.detail.cron', task.schedule)}
            {' · '}
            {task.target.labels
              ? t(
                  'tasks.detail.withLabels',
                  Object.entries(task.target.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', '),
                )
              : t('tasks.detail.chosen')}{' '}
            ({task.agentIds.length}) · {t('tasks.detail.by', task.createdBy)} · {time(lang, task.createdMs)}
            {task.backend === 'etcd' ? ` · ${t('tasks.detail.etcd')}` : ''}
          </p>
          <RunSummary runs={ordered.map((s) => s.run)} />
          <div className="task-actions btn-row">
            {task.kind === 'run' && task.status === 'active' ? (
              <Button variant="danger" onClick={() => void act('cancel')}>
                {t('tasks.cancel')}
              </Button>
            ) : null}
            {task.kind === 'cron' && task.status === 'active' ? (
              <Button onClick={() => void act('pause')}>{t('tasks.pause')}</Button>
            ) : null}
            {task.kind === 'cron' && task.status === 'paused' ? (
              <Button onClick={() => void act('resume')}>{t('tasks.resume')}</Button>
            ) : null}
            {task.kind === 'cron' && task.status !== 'deleted' ? (
              <Button variant="danger" onClick={() => void act('delete')}>
                {t('tasks.delete')}
              </Button>
            ) : null}
          </div>
        </>
      ) : (
        <p>{t('tasks.loading')}</p>
      )}
      <div className="runs">
        {ordered.slice(0, 50).map((s) => (
          <RunPanel key={runKey(s.run)} state={s} hostname={hostname(s.run.agentId)} />
        ))}
      </div>
      <AuditLog live={live} taskId={id} />
    </>
  );
}

/** How the task's runs ended, per outcome, each in its colour: a finished task is not a success when its runs were refused. */
function RunSummary({ runs }: { runs: TaskRun[] }) {
  const { t } = useI18n();
  const counts = new Map<RunStatus, number>();
  for (const r of runs) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  if (counts.size === 0) return null;
  return (
    <p className="run-summary" data-testid="run-summary">
      {[...counts].map(([status, n]) => (
        <span key={status} className={`run-status ${status}`} data-status={status}>
          {n} {statusText(t, status)}
        </span>
      ))}
    </p>
  );
}

function RunPanel({ state, hostname }: { state: RunState; hostname: string }) {
  const { t, lang } = useI18n();
  const { run } = state;
  const records = [...state.output.values()].sort((a, b) => a.seq - b.seq);
  const text = records.filter((r) => r.stream === 'stdout' || r.stream === 'stderr');
  return (
    <article className="run" data-testid="run" data-agent-id={run.agentId} data-run-id={run.runId} data-status={run.status}>
      <header>
        <strong>{hostname}</strong>
        <span className="sub" title={run.agentId}>
          {run.agentId.slice(0, 8)}
        </span>
        <span className={`run-status ${run.status}`} data-testid="run-status">
          {statusText(t, run.status)}
        </span>
        {run.exitCode !== null ? <span data-testid="run-exit">{t('tasks.exit', run.exitCode)}</span> : null}
        {run.scheduledMs ? <span className="sub">{t('tasks.scheduledAt', time(lang, run.scheduledMs))}</span> : null}
        {run.reason && !UNHAPPY.includes(run.status) ? <span className="sub">{run.reason}</span> : null}
      </header>
      {UNHAPPY.includes(run.status) && (run.message || run.reason) ? (
        <p className={`run-reason ${run.status}`} data-testid="run-reason">
          {t('forms.run.reason', run.message || run.reason)}
        </p>
      ) : null}
      {text.length > 0 || !run.endedMs ? (
        <pre data-testid="run-output">
          {text.map((r) => (
            <span key={r.seq} className={r.stream}>
              {r.data}
            </span>
          ))}
        </pre>
      ) : null}
      {run.message && run.reason && !UNHAPPY.includes(run.status) ? <p className="run-message">{run.message}</p> : null}
    </article>
  );
}

function AuditLog({ live, taskId }: { live: LiveConnection; taskId?: string }) {
  const { t, lang } = useI18n();
  const [entries, setEntries] = useState<TaskAuditEntry[]>([]);
  const reload = useCallback(() => {
    fetchAudit(taskId)
      .then((r) => setEntries(r.items))
      .catch(() => undefined);
  }, [taskId]);
  useEffect(() => {
    reload();
    // Audit rows come from runs ending and from people acting: refetch on either, at most every 500 ms.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = live.onTask((m) => {
      if (!((m.type === 'task_run' && m.run.endedMs) || m.type === 'task') || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        reload();
      }, 500);
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [live, reload]);
  return (
    <>
      <h2>{t('tasks.audit')}</h2>
      <RecordsTable
        className="tasks-table audit"
        columns={['tasks.col.when', 'tasks.col.who', 'tasks.col.what', 'tasks.col.where', 'tasks.col.command', 'tasks.col.result']}
        items={entries}
        row={(e) => (
          <tr key={e.id} data-testid="audit-row" data-action={e.action} title={e.detail}>
            <td>{time(lang, e.timeMs)}</td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.agentId || '—'}</td>
            <td>
              <code>{e.command}</code>
            </td>
            <td>{e.result}</td>
          </tr>
        )}
      />
    </>
  );
}

function EtcdHealth({ agents }: { agents: TaskAgentHealth[] }) {
  const { t, lang } = useI18n();
  return (
    <>
      <h2>{t('tasks.etcd')}</h2>
      <ul className="etcd-health">
        {[...agents]
          .sort((a, b) => (a.hostname < b.hostname ? -1 : 1))
          .map((a) => (
            <li key={a.agentId} data-testid="etcd-agent" data-agent-id={a.agentId} data-health={a.health}>
              <span className={`task-status ${a.health}`}>{statusText(t, a.health)}</span> {a.hostname || a.agentId} ·{' '}
              {t('tasks.since', time(lang, a.sinceMs))}
            </li>
          ))}
      </ul>
    </>
  );
}
