// build_and_push.sh against stub `aws` and `docker` executables that record every call.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../build_and_push.sh');
const PASSWORD = 'ecr-password-do-not-leak';

function stubs(tools: ('aws' | 'docker')[] = ['aws', 'docker']): { bin: string; calls: string } {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-stubs-'));
  const calls = path.join(bin, 'calls.log');
  const aws = `#!/usr/bin/env bash
echo "aws $*" >> "${calls}"
case "$1 $2" in
  "sts get-caller-identity") [ -n "$STUB_NO_CREDENTIALS" ] && { echo "Unable to locate credentials" >&2; exit 255; }; echo 123456789012 ;;
  "configure get") [ -n "$STUB_CONFIG_REGION" ] && echo "$STUB_CONFIG_REGION" || exit 1 ;;
  "ecr describe-repositories") [ -n "$STUB_REPO_EXISTS" ] || { echo "RepositoryNotFoundException" >&2; exit 254; } ;;
  "ecr create-repository") echo '{"repository": {}}' ;;
  "ecr get-login-password") echo "${PASSWORD}" ;;
esac
`;
  const docker = `#!/usr/bin/env bash
if [ "$1" = login ]; then stdin=$(cat); [ "$stdin" = "${PASSWORD}" ] && echo "docker login (password via stdin) \${*:2}" >> "${calls}"; exit 0; fi
echo "docker $*" >> "${calls}"
[ "$1" = build ] && [ -n "$STUB_BUILD_FAILS" ] && { echo "build error" >&2; exit 1; }
exit 0
`;
  if (tools.includes('aws')) fs.writeFileSync(path.join(bin, 'aws'), aws, { mode: 0o755 });
  if (tools.includes('docker')) fs.writeFileSync(path.join(bin, 'docker'), docker, { mode: 0o755 });
  return { bin, calls };
}

function run(args: string[], env: Record<string, string>, tools?: ('aws' | 'docker')[]) {
  const { bin, calls } = stubs(tools);
  const r = spawnSync('bash', [SCRIPT, ...args], { env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
  const log = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: log };
}

describe('build_and_push.sh', () => {
  test('without arguments prints a usage line', () => {
    const r = run([], {});
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: .*build_and_push\.sh IMAGE \[TAG\]/);
    expect(r.calls).toEqual([]);
  });

  test('creates a missing repository, logs in through stdin, builds, tags, pushes and prints the URI', () => {
    const r = run(['sagemaker-onnx', 'v1'], { AWS_REGION: 'eu-west-1' });
    expect(r.status).toBe(0);
    const uri = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-onnx:v1';
    expect(r.stdout.trim().split('\n').pop()).toBe(uri);
    expect(r.calls).toEqual([
      'aws sts get-caller-identity --query Account --output text',
      'aws ecr describe-repositories --region eu-west-1 --repository-names sagemaker-onnx',
      'aws ecr create-repository --region eu-west-1 --repository-name sagemaker-onnx',
      'aws ecr get-login-password --region eu-west-1',
      'docker login (password via stdin) --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      'docker build -t sagemaker-onnx:v1 .',
      `docker tag sagemaker-onnx:v1 ${uri}`,
      `docker push ${uri}`,
    ]);
    expect(`${r.stdout}${r.stderr}${r.calls.join('\n')}`).not.toContain(PASSWORD);
  });

  test('an existing repository is not created again; TAG defaults to latest', () => {
    const r = run(['img'], { AWS_REGION: 'us-east-1', STUB_REPO_EXISTS: '1' });
    expect(r.status).toBe(0);
    expect(r.calls.some((c) => c.includes('create-repository'))).toBe(false);
    expect(r.stdout.trim()).toBe('123456789012.dkr.ecr.us-east-1.amazonaws.com/img:latest');
  });

  test('region: AWS_REGION, then AWS_DEFAULT_REGION, then aws configure', () => {
    expect(run(['img'], { AWS_DEFAULT_REGION: 'ap-south-1' }).stdout).toContain('.ap-south-1.');
    expect(run(['img'], { AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'ap-south-1' }).stdout).toContain('.eu-north-1.');
    expect(run(['img'], { STUB_CONFIG_REGION: 'sa-east-1' }).stdout).toContain('.sa-east-1.');
    const none = run(['img'], {});
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no AWS region: set AWS_REGION/);
  });

  test('a failed build pushes nothing', () => {
    const r = run(['img'], { AWS_REGION: 'eu-west-1', STUB_BUILD_FAILS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/docker build failed; nothing was pushed/);
    expect(r.calls.some((c) => c.startsWith('docker push') || c.startsWith('docker tag'))).toBe(false);
  });

  test('missing tools and credentials are named', () => {
    expect(run(['img'], { AWS_REGION: 'eu-west-1' }, ['docker']).stderr).toMatch(/'aws' is not installed/);
    expect(run(['img'], { AWS_REGION: 'eu-west-1' }, ['aws']).stderr).toMatch(/'docker' is not installed/);
    const creds = run(['img'], { AWS_REGION: 'eu-west-1', STUB_NO_CREDENTIALS: '1' });
    expect(creds.status).toBe(1);
    expect(creds.stderr).toMatch(/cannot read the AWS account .*check your credentials/);
  });

  test('an invalid repository name or tag is refused before anything runs', () => {
    const r = run(['My Image'], { AWS_REGION: 'eu-west-1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/IMAGE "My Image" is not a valid ECR repository name/);
    expect(r.calls).toEqual([]);
  });
});
