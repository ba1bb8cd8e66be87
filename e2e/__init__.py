"""The real-cluster path: install on a Kratix platform (`make install`) and the kind
end-to-end suite (`make e2e`).

Everything a cluster run does is data first: `plan.py` renders every manifest the suite
applies and every condition it waits for, as a pure function that `make test` validates
offline (tests/test_e2e_plan.py); `run.py` only executes that plan with kubectl, kind and
docker. `install.py` is the promise install both `make install` and the suite use.
Stdlib and PyYAML only, plus the project (promisekit) for rendering and checks.
"""
