/**
 * DNS answers for the service catalog, on the wire format of `dns-packet`: `NAME.service.mycel` answers A/AAAA
 * with the healthy instances' addresses and SRV with their ports, each SRV target `HEX.addr.mycel` (the address
 * in hex, as Consul spells it) whose address rides along in the additional section. Pure: a query and the
 * catalog in, a response out.
 *
 * Only `service.mycel` and `addr.mycel` are ours: any other name is REFUSED (this is no recursive resolver), any
 * opcode but QUERY is NOTIMP, a packet with other than one question is FORMERR. A response never exceeds the
 * client's UDP size (512 bytes, or what its EDNS record says, at most 1232): records that do not fit are left
 * out and the TC flag set, so a client that needs them all asks again over TCP (not served; the first records
 * are what most clients use).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import * as dns from 'dns-packet';
import type { CatalogService } from './service-catalog.js';

export const SERVICE_ZONE = 'service.mycel';
const ADDR_ZONE = 'addr.mycel';
const DEFAULT_UDP_SIZE = 512;
/** The EDNS payload size DNS Flag Day 2020 settled on: no fragmentation on any common path. */
export const MAX_UDP_SIZE = 1232;
/** Instances change as copies start and fail checks: clients should ask again rather than cache. */
const TTL = 0;

type Rcode = 'NOERROR' | 'FORMERR' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';
const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export type ServiceLookup = (name: string) => CatalogService | undefined;

/** The response to a decoded query, as bytes no larger than the client may receive. */
export function answerQuery(query: DecodedPacket, lookup: ServiceLookup): Buffer {
  const size = udpSize(query);
  const question = query.questions?.length === 1 ? query.questions[0] : undefined;
  const reply = (rcode: Rcode, answers: Answer[] = [], additionals: Answer[] = []) =>
    fitted(
      {
        type: 'response',
        id: query.id ?? 0,
        flags: dns.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dns.RECURSION_DESIRED) | RCODES[rcode],
        questions: question ? [question] : [],
        answers,
        additionals,
      },
      size,
    );
  // The opcode is flags bits 11-14 (the typings leave out the decoded `opcode`); 0 is QUERY.
  if (((query.flags ?? 0) >> 11) & 0xf) return reply('NOTIMP');
  if (question === undefined) return reply('FORMERR');
  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (name === ADDR_ZONE || name.endsWith(`.${ADDR_ZONE}`)) return addrAnswer(question, name, reply);
  if (!name.endsWith(`.${SERVICE_ZONE}`)) return reply(name === SERVICE_ZONE ? 'NOERROR' : 'REFUSED');
  const label = name.slice(0, -SERVICE_ZONE.length - 1);
  const service = label.includes('.') ? undefined : lookup(label);
  if (service === undefined) return reply('NXDOMAIN');

  const instances = service.instances;
  switch (question.type) {
    case 'A':
    case 'AAAA': {
      const wanted = question.type === 'A' ? isIPv4 : isIPv6;
      const addresses = [...new Set(instances.map((i) => i.address).filter((a) => wanted(a)))];
      return reply(
        'NOERROR',
        addresses.map((address) => addressRecord(question.name, address)),
      );
    }
    case 'SRV': {
      const answers: Answer[] = instances.map((i) => ({
        type: 'SRV',
        name: question.name,
        ttl: TTL,
        data: { priority: 1, weight: 1, port: i.port, target: targetOf(i.address) },
      }));
      const targets = [...new Set(instances.map((i) => i.address))];
      return reply(
        'NOERROR',
        answers,
        targets.map((address) => addressRecord(targetOf(address), address)),
      );
    }
    default:
      return reply('NOERROR');
  }
}

/** `HEX.addr.mycel`: an instance's address spelled as a name, for SRV targets. */
function targetOf(address: string): string {
  const bytes = isIPv4(address)
    ? Buffer.from(address.split('.').map(Number))
    : Buffer.from(expandIPv6(address).replaceAll(':', ''), 'hex');
  return `${bytes.toString('hex')}.${ADDR_ZONE}`;
}

function addrAnswer(question: Question, name: string, reply: (rcode: Rcode, answers?: Answer[]) => Buffer) {
  const hex = name.slice(0, -ADDR_ZONE.length - 1);
  let address: string | undefined;
  if (/^[0-9a-f]{8}$/.test(hex)) address = [...Buffer.from(hex, 'hex')].join('.');
  else if (/^[0-9a-f]{32}$/.test(hex)) address = hex.match(/.{4}/g)!.join(':');
  if (address === undefined) return reply('NXDOMAIN');
  const type = isIPv4(address) ? 'A' : 'AAAA';
  return reply('NOERROR', question.type === type ? [addressRecord(question.name, address)] : []);
}

function addressRecord(name: string, address: string): Answer {
  return { type: isIPv4(address) ? 'A' : 'AAAA', name, ttl: TTL, data: address };
}

function expandIPv6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const middle = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...middle, ...right].map((group) => group.padStart(4, '0')).join(':');
}

function udpSize(query: DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const asked = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : DEFAULT_UDP_SIZE;
  return Math.min(MAX_UDP_SIZE, Math.max(DEFAULT_UDP_SIZE, asked));
}

/** Drops additional, then answer records from the end until the response fits, marking it truncated. */
function fitted(response: Packet & { answers: Answer[]; additionals: Answer[] }, size: number): Buffer {
  let encoded = dns.encode(response);
  if (encoded.length <= size) return encoded;
  const truncated = { ...response, flags: (response.flags ?? 0) | dns.TRUNCATED_RESPONSE };
  truncated.additionals = [];
  while (truncated.answers.length > 0 && dns.encodingLength(truncated) > size) {
    truncated.answers = truncated.answers.slice(0, -1);
  }
  encoded = dns.encode(truncated);
  return encoded;
}
