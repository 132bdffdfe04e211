"""The FlowForge quick start, unchanged but for the import: a processor whose logic is in a
slot handler, used as the flow's entry. Run it with ``python examples/graph_quickstart.py``.

The job is a durable run in the default store (``.floe/floe.db`` here; set ``FLOE_STORE``
to change it), so ``floe status JOB_ID --detailed`` shows every delivery afterwards.
Prints the job's status, the first processor's stats and the second one's output.
"""

from floe.graph import Flow, Routine


class DataProcessor(Routine):
    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process_data)
        self.output_event = self.define_event("output", ["result"])

    def process_data(self, data: str):
        result = f"Processed: {data}"
        self._stats["processed_count"] = self._stats.get("processed_count", 0) + 1
        self.emit("output", result=result)


flow = Flow(flow_id="my_flow")

processor1 = DataProcessor()
processor2 = DataProcessor()

id1 = flow.add_routine(processor1, "processor1")
id2 = flow.add_routine(processor2, "processor2")

flow.connect(id1, "output", id2, "input")

job_state = flow.execute(id1, entry_params={"data": "test"})
print(job_state.status)  # "completed"
print(processor1.stats())  # {"processed_count": 1}

# processor2's 'data' parameter matched no key of {"result": ...}, so it got the whole
# message; a param_mapping hands it the value instead:
emitted = [r.data for r in job_state.execution_history if r.kind == "emitted"]
print(emitted[-1])
