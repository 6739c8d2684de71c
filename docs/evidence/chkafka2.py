import asyncio, time, json, threading, shutil
import clickhouse_connect
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
BOOT="127.0.0.1:19092"
async def setup():
    a=AIOKafkaAdminClient(bootstrap_servers=BOOT); await a.start()
    try: await a.create_topics([NewTopic("probe3",4,1)])
    except Exception as e: print("topic", e)
    await a.close()
asyncio.run(setup())
shutil.rmtree("/tmp/chk", ignore_errors=True)
from chdb import session
s=session.Session("/tmp/chk")
class C:
    def command(self,x):
        try: return s.query(x,"TSV")
        except Exception as e: print("IGNORED", str(e)[:80])
    def query(self,x):
        r=s.query(x,"TSV").bytes().decode().strip().split("\n")
        class R: pass
        o=R(); o.result_rows=[l.split("\t") for l in r]; return o
c=C()
c.command("CREATE TABLE q (id UInt64, ts DateTime64(3,'UTC'), kind LowCardinality(String)) ENGINE=Kafka SETTINGS kafka_broker_list='%s', kafka_topic_list='probe3', kafka_group_name='chk10', kafka_format='JSONEachRow', kafka_num_consumers=1, kafka_flush_interval_ms=500, kafka_thread_per_consumer=1" % BOOT)
c.command("CREATE TABLE raw (id UInt64, ts DateTime64(3,'UTC'), kind LowCardinality(String), _partition UInt64, _offset UInt64, ingested DateTime64(3,'UTC') DEFAULT now64(3)) ENGINE=MergeTree ORDER BY (kind, ts)")
c.command("CREATE MATERIALIZED VIEW mv TO raw AS SELECT id, ts, kind, _partition, _offset, now64(3) AS ingested FROM q")
N=200000
async def produce():
    p=AIOKafkaProducer(bootstrap_servers=BOOT, acks="all", linger_ms=5, max_batch_size=256*1024)
    await p.start()
    t=time.time()
    futs=[]
    for i in range(N):
        ts=time.time()
        futs.append(await p.send("probe3", json.dumps({"id":i,"ts":"%.3f"%ts,"kind":"view"}).encode(), partition=i%4))
        if i % 5000 == 0: await asyncio.sleep(0)
    await asyncio.gather(*futs)
    print("produced", N, "in", round(time.time()-t,2), "s")
    await p.stop()
t0=time.time()
asyncio.run(produce())
for _ in range(60):
    n=c.query("SELECT count(), max(ingested) FROM raw").result_rows[0]
    print(round(time.time()-t0,1), n[0]); 
    if int(n[0])>=N: break
    time.sleep(1)
print(c.query("SELECT quantiles(0.5,0.99)(dateDiff('millisecond', ts, ingested)) FROM raw").result_rows)
print(c.query("SELECT count(), uniqExact(id) FROM raw").result_rows)
