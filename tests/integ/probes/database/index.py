"""Integration probe for the database pattern (pg8000 is bundled at deploy time).

``handler`` (in the VPC): as the administrator (its secret, read fresh, so a
rotated password is used), make sure the application user ``app`` exists with
``rds_iam`` (docs/database.md, "Application user"); then log in as ``app``
with IAM tokens through the proxy and through the reader endpoint, run a query
on each, and log in as the administrator again.

``config`` (outside the VPC): read the Parameter Store hierarchy; the result
says whether this function's role may.
"""

import json
import os
import ssl

import boto3

CA_BUNDLE = os.path.join(os.path.dirname(__file__), "global-bundle.pem")


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()  # RDS Proxy: Amazon Trust Services (ACM)
    if os.path.exists(CA_BUNDLE):
        context.load_verify_locations(CA_BUNDLE)  # the cluster's endpoints: the RDS CAs
    return context


def _connect(host: str, port: int, user: str, password: str, database: str):
    import pg8000.native

    return pg8000.native.Connection(user=user, password=password, host=host, port=port, database=database,
                                    ssl_context=_tls(), timeout=20)


def handler(event, _context):
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SECRET_ARN"])["SecretString"])
    database = os.environ["DATABASE_NAME"]
    result = {}
    admin = _connect(secret["host"], int(secret["port"]), secret["username"], secret["password"], database)
    try:
        result["admin_ok"] = admin.run("SELECT 1") == [[1]]
        if not admin.run("SELECT 1 FROM pg_roles WHERE rolname = 'app'"):
            admin.run("CREATE USER app")
        admin.run("GRANT rds_iam TO app")
        admin.run(f'GRANT CONNECT ON DATABASE "{database}" TO app')
    finally:
        admin.close()
    rds = boto3.client("rds")
    for name, host, port in (("proxy", os.environ["PROXY_HOST"], int(os.environ["PROXY_PORT"])),
                             ("reader", os.environ["READER_HOST"], int(secret["port"]))):
        token = rds.generate_db_auth_token(DBHostname=host, Port=port, DBUsername="app")
        conn = _connect(host, port, "app", token, database)
        try:
            [[user, in_recovery]] = conn.run("SELECT current_user, pg_is_in_recovery()")
            result[f"{name}_user"] = user
            result[f"{name}_in_recovery"] = in_recovery
        finally:
            conn.close()
    return result


def config(event, _context):
    try:
        found = boto3.client("ssm").get_parameters_by_path(Path=os.environ["PARAMETER_PATH"], Recursive=True)
        return {"readable": True, "count": len(found["Parameters"])}
    except Exception as err:  # noqa: BLE001 (the error code is the result)
        return {"readable": False, "error": getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)}
