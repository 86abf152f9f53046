/**
 * The audit log's field reference, read from the types in src/broker/audit.ts with the TypeScript
 * compiler: each field's name, type and doc comment. `npm run docs` writes it into
 * docs/operations.md; a test holds the broker's real audit lines to it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../src/local/runner.js';

export interface AuditField {
  name: string;
  type: string;
  /** Present on every line of its kind, not only on some. */
  always: boolean;
  description: string;
}

export const AUDIT_SOURCE = path.join(REPO_ROOT, 'src', 'broker', 'audit.ts');

/** The envelope's fields first (on every line), then the event's, in declaration order. */
export function readAuditFields(): AuditField[] {
  const source = ts.createSourceFile(
    AUDIT_SOURCE,
    readFileSync(AUDIT_SOURCE, 'utf8'),
    ts.ScriptTarget.ES2023,
    true,
  );
  const members = (name: string) => {
    const found = source.statements.find(
      (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name,
    );
    if (!found) throw new Error(`${AUDIT_SOURCE} no longer declares interface ${name}`);
    return found.members.filter(ts.isPropertySignature).map((member) => {
      const description = ts
        .getJSDocCommentsAndTags(member)
        .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '')
        .join(' ')
        .trim();
      const fieldName = member.name.getText(source);
      if (!description)
        throw new Error(
          `${name}.${fieldName} in ${AUDIT_SOURCE} needs a doc comment: it is the field's documentation`,
        );
      return {
        name: fieldName,
        type: member.type?.getText(source).replace(/\s+/g, ' ') ?? 'unknown',
        always: !member.questionToken,
        description,
      };
    });
  };
  return [...members('AuditEnvelope'), ...members('AuditEvent')];
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ').trim();

export function auditFieldsTable(fields: AuditField[] = readAuditFields()): string {
  return [
    '| Field | Type | On every line | Meaning |',
    '|---|---|---|---|',
    ...fields.map(
      (f) => `| \`${f.name}\` | \`${cell(f.type)}\` | ${f.always ? 'yes' : ''} | ${cell(f.description)} |`,
    ),
  ].join('\n');
}
