/** Sign-in and sessions, users, API and enrollment tokens, and the audit log. */
import { z } from 'zod';
import { itemsOf, Labels, timeParam } from './common.ts';
import { AUDIT_OUTCOMES, IDENTITY_KINDS, ROLES, SESSION_MODES } from './enums.ts';

export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** User and token names: short, printable, safe in logs, URLs and shells. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const NAME_RULE = 'letters, digits and . _ @ -, starting with a letter or digit, at most 64';
export const PASSWORD_MAX = 256;

const Name = z.string().regex(NAME_PATTERN, NAME_RULE);
const Password = z.string().min(1).max(PASSWORD_MAX);

// --- sessions ---

export const Session = z.object({
  mode: z.enum(SESSION_MODES).describe('setup: no user exists yet, loopback needs no sign-in'),
  user: z.object({ name: z.string(), role: Role, kind: z.enum(IDENTITY_KINDS) }).nullable(),
  csrfToken: z.string().nullable().describe('echo in X-Falconet-CSRF on changes made with the session cookie'),
  expiresMs: z.number().nullable(),
  warnings: z
    .array(z.string())
    .optional()
    .describe(
      'admins only: risks the configuration accepted, for the dashboard to show (grpc_plaintext: a plaintext agent channel beyond loopback)',
    ),
});
export type Session = z.infer<typeof Session>;

/** POST /api/auth/signin */
export const SignInBody = z.object({ name: z.string().min(1).max(64), password: Password });
export type SignInBody = z.infer<typeof SignInBody>;
/** POST /api/auth/setup */
export const SetupBody = z.object({ token: z.string().min(1).max(200), name: Name, password: Password });
export type SetupBody = z.infer<typeof SetupBody>;
/** PUT /api/auth/password */
export const PasswordChangeBody = z.object({ current: Password, password: Password });
export type PasswordChangeBody = z.infer<typeof PasswordChangeBody>;

// --- users ---

export const User = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    disabled: z.boolean(),
    lockedUntilMs: z.number(),
    createdMs: z.number(),
    updatedMs: z.number(),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof User>;
export const UserList = itemsOf(User);
export type UserList = z.infer<typeof UserList>;

export const UserParams = z.object({ name: Name });
/** POST /api/users */
export const NewUserBody = z.object({ name: Name, role: Role, password: Password });
export type NewUserBody = z.infer<typeof NewUserBody>;
/** PATCH /api/users/:name */
export const UserChangeBody = z
  .object({
    role: Role.optional(),
    password: Password.optional(),
    disabled: z.boolean().optional(),
    unlock: z.literal(true).optional(),
  })
  .strict();
export type UserChangeBody = z.infer<typeof UserChangeBody>;

// --- tokens ---

export const ApiToken = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    scopes: z.array(z.string()),
    createdBy: z.string(),
    createdMs: z.number(),
    expiresMs: z.number().describe('0 = never'),
    revokedMs: z.number().describe('0 = not revoked'),
    lastUsedMs: z.number(),
  })
  .meta({ id: 'ApiToken' });
export type ApiToken = z.infer<typeof ApiToken>;
export const ApiTokenList = itemsOf(ApiToken);
export type ApiTokenList = z.infer<typeof ApiTokenList>;

/** POST /api/tokens */
export const NewApiTokenBody = z.object({
  name: Name,
  role: Role,
  scopes: z.array(z.string().max(200)).min(1).max(50).default(['*']).describe('* or route prefixes such as /api/metrics'),
  expires: z.string().max(20).default('90d').describe('30d, 12h, ... or never'),
});
export type NewApiTokenBody = z.input<typeof NewApiTokenBody>;
/** A token just made: its secret is in this answer only. */
export const NewApiToken = z.object({ token: z.string(), record: ApiToken });
export type NewApiToken = z.infer<typeof NewApiToken>;

export const EnrollmentToken = z
  .object({
    id: z.string(),
    name: z.string(),
    labels: Labels,
    createdBy: z.string(),
    createdMs: z.number(),
    expiresMs: z.number(),
    maxUses: z.number(),
    uses: z.number(),
    revokedMs: z.number(),
  })
  .meta({ id: 'EnrollmentToken' });
export type EnrollmentToken = z.infer<typeof EnrollmentToken>;
export const EnrollmentTokenList = itemsOf(EnrollmentToken);

/** POST /api/enrollment-tokens */
export const NewEnrollmentTokenBody = z.object({
  name: Name,
  expires: z.string().max(20).default('24h'),
  maxUses: z.number().int().min(1).max(100_000).default(1),
  labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/), z.string().max(256)).default({}),
});
export type NewEnrollmentTokenBody = z.input<typeof NewEnrollmentTokenBody>;
export const NewEnrollmentToken = z.object({ token: z.string(), record: EnrollmentToken });
export type NewEnrollmentToken = z.infer<typeof NewEnrollmentToken>;

/** `:id` of a token route */
export const TokenParams = z.object({ id: z.string().max(64) });

// --- audit ---

export const AuditOutcome = z.enum(AUDIT_OUTCOMES);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/** GET /api/audit */
export const AuditQuery = z.object({
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  outcome: AuditOutcome.optional(),
  from: timeParam.optional(),
  to: timeParam.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.string().max(64).optional().describe('the last id of the previous page'),
});
export const AuditRecord = z.object({
  id: z.string(),
  tsMs: z.number(),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  address: z.string(),
  outcome: z.string(),
  detail: z.record(z.string(), z.unknown()),
});
export type AuditRecord = z.infer<typeof AuditRecord>;
export const AuditLogPage = itemsOf(AuditRecord);
export type AuditLogPage = z.infer<typeof AuditLogPage>;
