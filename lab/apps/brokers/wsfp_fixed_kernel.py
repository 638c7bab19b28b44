# Jupyter Server extension for the wsfp lab: start one python3 kernel with a FIXED id when the server starts, so that
# the kernel channels WebSocket has a stable path, /api/kernels/00000000-0000-4000-8000-000000000001/channels
# (a real server's kernel ids are random uuid4s). Loaded by jupyter.sh through ServerApp.jpserver_extensions.
import asyncio

KERNEL_ID = "00000000-0000-4000-8000-000000000001"


def _jupyter_server_extension_points():
    return [{"module": "wsfp_fixed_kernel"}]


def _load_jupyter_server_extension(serverapp):
    async def start():
        await serverapp.kernel_manager.start_kernel(kernel_id=KERNEL_ID, kernel_name="python3")
        serverapp.log.info("wsfp lab: kernel %s started", KERNEL_ID)

    asyncio.get_event_loop().create_task(start())
